//! Unit tests of configuration checks and argument parsing.

use super::*;

fn server(name: &str, url: &str, header: (&str, &str)) -> McpServerConfig {
    let headers = vec![(header.0.to_owned(), SecretString::from(header.1.to_owned()))];
    McpServerConfig {
        name: name.into(),
        url: url.into(),
        headers,
    }
}

#[test]
fn validation_names_the_server_and_header_never_the_value() {
    let ok = server(
        "dealer",
        "https://mcp.example.com/mcp",
        ("Authorization", "Bearer t0k"),
    );
    assert_eq!(ok.validate(), Ok(()));
    assert!(
        server("my dealer", "https://x/mcp", ("a", "b"))
            .validate()
            .unwrap_err()
            .contains("name")
    );
    assert!(
        server("d", "ftp://x/mcp", ("a", "b"))
            .validate()
            .unwrap_err()
            .contains("url")
    );
    let bad_value = server("d", "http://x/mcp", ("Authorization", "Bearer s3cret\n"));
    let message = bad_value.validate().unwrap_err();
    assert!(
        message.contains("Authorization") && !message.contains("s3cret"),
        "{message}"
    );
    assert!(
        server("d", "http://x/mcp", ("bad header", "v"))
            .validate()
            .is_err()
    );
}

#[test]
fn arguments_must_be_an_object_and_empty_means_none() {
    assert_eq!(parse_arguments("  "), Ok(JsonObject::new()));
    assert_eq!(
        parse_arguments(r#"{"date":"2026-12-03"}"#).unwrap()["date"],
        "2026-12-03"
    );
    assert!(matches!(
        parse_arguments("[1]"),
        Err(ToolError::InvalidArguments(_))
    ));
    assert!(matches!(
        parse_arguments("{"),
        Err(ToolError::InvalidArguments(_))
    ));
}
