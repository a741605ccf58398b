//! Per-chat state on both stores: chat event logs (resume after an id, cap, expiry) and send intents
//! (marked per part, deleted by the commit, bounded by a TTL).

use super::*;

#[tokio::test]
async fn chat_event_logs_resume_after_an_id_keep_a_cap_and_expire() {
    let (server, stores) = stores().await;
    for s in stores {
        let kind = s.kind();
        let chat = "web:conformance1";
        let mut ids = Vec::new();
        for n in 0..5 {
            let id = s.append_chat_event(chat, &format!("e{n}"), 3, TTL).await.unwrap();
            ids.push(id);
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{kind}: ids increase: {ids:?}"
        );
        // Only the newest 3 are kept; all of them from the start, oldest first.
        let all = s.chat_events_after(chat, None, 10).await.unwrap();
        let bodies: Vec<&str> = all.iter().map(|e| e.body.as_str()).collect();
        assert_eq!(bodies, ["e2", "e3", "e4"], "{kind}");
        assert_eq!(all[0].id, ids[2], "{kind}");
        // Resuming after an id gives exactly the later ones; `max` bounds a read.
        let after = s.chat_events_after(chat, Some(ids[2]), 10).await.unwrap();
        assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), ids[3..], "{kind}");
        let one = s.chat_events_after(chat, Some(ids[2]), 1).await.unwrap();
        assert_eq!(one.len(), 1, "{kind}");
        assert!(
            s.chat_events_after(chat, Some(ids[4]), 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        // Chats are separate; a chat without a log reads empty.
        assert!(
            s.chat_events_after("web:otherchat", None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        // The log expires after its TTL, counted from its last event.
        let short = "web:expiring1";
        s.append_chat_event(short, "x", 10, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(
            s.chat_events_after(short, None, 10).await.unwrap().len(),
            1,
            "{kind}"
        );
        assert!(
            eventually_async(EXPIRY, || async {
                s.chat_events_after(short, None, 10).await.unwrap().is_empty()
            })
            .await,
            "{kind}: expired"
        );
    }
    // In Redis the log is one stream under the prefix, with an expiry.
    let ttl = server
        .command(&["PTTL", "t:web-events:web:conformance1"])
        .unwrap();
    let ms: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(ms > 0 && ms <= TTL.as_millis() as i64, "PTTL {ttl:?}");
}

#[tokio::test]
async fn a_send_intent_is_marked_per_part_and_deleted_by_the_commit() {
    let (server, stores) = stores().await;
    for s in stores {
        let kind = s.kind();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");
        // Marking without an intent creates nothing.
        s.mark_intent_sent("c1", 0, Some("x")).await.unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");

        let parts = ["part one".to_owned(), "part two".to_owned()];
        let intent = SendIntent::new(vec!["m1".into(), "m2".into()], None, &parts);
        s.record_send_intent("c1", &intent, TTL).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().expect("recorded");
        assert_eq!(read, intent, "{kind}");
        assert!(read.parts.iter().all(|p| !p.sent), "{kind}");

        s.mark_intent_sent("c1", 0, Some("wamid.A")).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().unwrap();
        assert!(read.parts[0].sent && !read.parts[1].sent, "{kind}");
        assert_eq!(read.parts[0].gateway_id.as_deref(), Some("wamid.A"), "{kind}");
        s.mark_intent_sent("c1", 1, None).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().unwrap();
        assert!(read.parts[1].sent && read.parts[1].gateway_id.is_none(), "{kind}");
        assert_eq!(read.turn, ["m1", "m2"], "{kind}");

        // Another chat's intent is its own; recording again replaces the chat's intent.
        let other = SendIntent::new(vec!["o1".into()], Some("handoff".into()), &parts[..1]);
        s.record_send_intent("c2", &other, TTL).await.unwrap();
        let fresh = SendIntent::new(vec!["m3".into()], None, &parts[1..]);
        s.record_send_intent("c1", &fresh, TTL).await.unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), Some(fresh), "{kind}");

        // The commit deletes the chat's intent with everything else, and only that chat's.
        s.accept("waha:m3", TTL, &env("c1", "m3")).await.unwrap();
        s.commit_turn("c1", &commit(1, &[entry("m3")], &[]))
            .await
            .unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");
        assert_eq!(s.send_intent("c2").await.unwrap(), Some(other), "{kind}");

        // The TTL is a safety net.
        s.record_send_intent("c3", &intent, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(
            eventually_async(EXPIRY, || async { s.send_intent("c3").await.unwrap().is_none() }).await,
            "{kind}"
        );
    }
    let ttl = server.command(&["PTTL", "t:intent:c2"]).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(
        ms > 0 && ms <= TTL.as_millis() as i64,
        "Redis intent has a TTL: {ttl}"
    );
}
