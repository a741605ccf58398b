use proptest::prelude::*;

use super::*;

fn non_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn a_reply_that_fits_is_one_trimmed_part() {
    assert_eq!(split_reply("  Hallo Jeroen!\n", 100), vec!["Hallo Jeroen!"]);
    let exact = "a".repeat(100);
    assert_eq!(split_reply(&exact, 100), vec![exact.clone()]);
}

#[test]
fn an_empty_reply_has_no_parts() {
    assert!(split_reply("", 100).is_empty());
    assert!(split_reply(" \n\t ", 100).is_empty());
}

#[test]
fn characters_are_counted_not_bytes() {
    // 40 two-byte and 40 four-byte characters: 80 characters, 240 bytes.
    let text = "é".repeat(40) + &"🚙".repeat(40);
    assert_eq!(split_reply(&text, 80), vec![text.clone()]);
    let parts = split_reply(&text, 50);
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| chars(p) <= 50));
}

#[test]
fn paragraphs_are_packed_greedily() {
    let p1 = "Eerste alinea over de BMW X5.";
    let p2 = "Tweede alinea over de proefrit.";
    let p3 = "Derde alinea over de inruil van uw Tesla.";
    let text = format!("{p1}\n\n{p2}\n\n{p3}");
    let parts = split_reply(&text, chars(p1) + 2 + chars(p2));
    assert_eq!(parts, vec![format!("{p1}\n\n{p2}"), p3.to_owned()]);
    let parts = split_reply(&text, chars(p3));
    assert_eq!(parts, vec![p1, p2, p3]);
}

#[test]
fn blank_lines_with_spaces_and_crlf_count_as_paragraph_breaks() {
    let text = "Regel een.\r\n \r\nRegel twee is hier.\n\t\nDrie";
    let parts = split_reply(text, 22);
    assert_eq!(parts, vec!["Regel een.", "Regel twee is hier.", "Drie"]);
}

#[test]
fn single_newlines_stay_inside_a_part() {
    let text = "Prijs:\n- X5: 90k\n- X3: 60k\n\nGroet, Sanne";
    let parts = split_reply(text, 30);
    assert_eq!(parts, vec!["Prijs:\n- X5: 90k\n- X3: 60k", "Groet, Sanne"]);
}

#[test]
fn a_long_paragraph_is_split_at_sentence_ends() {
    let text = "Dit is zin een. Is dit zin twee? Ja! En dan… zin vier. Klaar.";
    let parts = split_reply(text, 34);
    assert_eq!(
        parts,
        vec!["Dit is zin een. Is dit zin twee?", "Ja! En dan… zin vier. Klaar."]
    );
    let parts = split_reply(text, 20);
    assert_eq!(
        parts,
        vec![
            "Dit is zin een.",
            "Is dit zin twee? Ja!",
            "En dan… zin vier.",
            "Klaar."
        ]
    );
}

#[test]
fn closing_quotes_stay_with_their_sentence() {
    let text = "Hij zei: \"Kom zaterdag.\" Dan rijden we. (Met koffie!) Tot dan.";
    let parts = split_reply(text, 30);
    assert_eq!(parts[0], "Hij zei: \"Kom zaterdag.\"");
    assert_eq!(parts[1], "Dan rijden we. (Met koffie!)");
}

#[test]
fn numbers_and_abbreviated_decimals_are_not_sentence_ends() {
    let text = "De trekhaak kan 3.500 kg trekken en kost 1.250 euro extra bij levering";
    let parts = split_reply(text, 40);
    assert_eq!(
        parts,
        vec![
            "De trekhaak kan 3.500 kg trekken en kost",
            "1.250 euro extra bij levering"
        ]
    );
}

#[test]
fn a_sentence_too_long_is_split_at_whitespace() {
    let text = "een twee drie vier vijf zes zeven acht negen tien";
    let parts = split_reply(text, 15);
    assert_eq!(
        parts,
        vec!["een twee drie", "vier vijf zes", "zeven acht", "negen tien"]
    );
}

#[test]
fn a_word_too_long_is_cut_hard() {
    let url = format!("https://example.com/{}", "x".repeat(100));
    let parts = split_reply(&format!("Zie {url} voor meer"), 40);
    assert!(parts.iter().all(|p| chars(p) <= 40), "{parts:?}");
    assert_eq!(parts[0], "Zie");
    assert_eq!(
        non_whitespace(&parts.concat()),
        non_whitespace(&format!("Zie {url} voor meer"))
    );
    assert_eq!(split_reply("abcdefg", 3), vec!["abc", "def", "g"]);
}

#[test]
fn a_zero_maximum_is_treated_as_one() {
    assert_eq!(split_reply("ab c", 0), vec!["a", "b", "c"]);
}

/// Text made of words, sentence ends, single and double newlines, and some multi-byte characters.
fn prose() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-zA-Z0-9éï🚙]{1,12}",
        3 => Just(" ".to_owned()),
        2 => prop::sample::select(vec![". ", "! ", "? ", "… ", ".\" ", ", ", "3.500 "])
            .prop_map(str::to_owned),
        1 => Just("\n".to_owned()),
        1 => Just("\n\n".to_owned()),
        1 => Just(" \r\n \t\n ".to_owned()),
        1 => "[a-z]{20,60}",
    ];
    prop::collection::vec(piece, 0..120).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parts_respect_every_invariant(text in prose(), max in 1usize..120) {
        check(&text, max)?;
    }

    #[test]
    fn arbitrary_unicode_respects_every_invariant(text in any::<String>(), max in 1usize..40) {
        check(&text, max)?;
    }
}

fn check(text: &str, max: usize) -> Result<(), TestCaseError> {
    let parts = split_reply(text, max);
    for part in &parts {
        prop_assert!(!part.is_empty(), "empty part in {parts:?}");
        prop_assert_eq!(part.trim(), part.as_str(), "untrimmed part");
        prop_assert!(
            chars(part) <= max,
            "part of {} > {max} chars: {part:?}",
            chars(part)
        );
    }
    prop_assert_eq!(non_whitespace(&parts.concat()), non_whitespace(text));
    if chars(text.trim()) <= max {
        prop_assert!(parts.len() <= 1);
    }
    Ok(())
}
