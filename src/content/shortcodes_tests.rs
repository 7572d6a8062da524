//! Tests of the shortcode parser.

use super::*;

fn codes(md: &str) -> Vec<Shortcode> {
    split(md)
        .unwrap()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Code(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn hugo_arguments_positional_named_and_quoted() {
    let c = codes(
        "x {{< gist spf13 \"7896 402\" `raw\\n` >}} y {{% figure src=\"a b.png\" width=300 %}}",
    );
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name, "gist");
    assert_eq!(c[0].positional, vec!["spf13", "7896 402", "raw\\n"]);
    assert!(!c[0].block);
    assert_eq!(c[1].flavor, Flavor::HugoMarkdown);
    assert_eq!(c[1].named["src"], "a b.png");
    assert_eq!(c[1].named["width"], "300");
}

#[test]
fn paired_nested_and_self_closing() {
    let md = "{{< note >}}\nA {{< youtube abc >}} and {{< note >}}inner{{< /note >}}\n{{< /note >}}\n\n{{< br />}}\n";
    let c = codes(md);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0].name, "note");
    assert!(c[0].block);
    let body = c[0].body.as_deref().unwrap();
    assert!(body.contains("{{< youtube abc >}}") && body.contains("inner{{< /note >}}"));
    assert_eq!(c[1].name, "br");
    assert_eq!(c[1].body, None);
}

#[test]
fn zola_inline_and_body_shortcodes() {
    let md = "{{ youtube(id=\"a\", autoplay=true, n=3, r=1.5, l=[\"x\", 'y']) }}\n\n{% quote(author=\"Me\") %}\nHi\n{% end %}\n";
    let c = codes(md);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].named["id"], "a");
    assert_eq!(c[0].named["autoplay"], true);
    assert_eq!(c[0].named["n"], 3);
    assert_eq!(c[0].named["l"], serde_json::json!(["x", "y"]));
    assert_eq!(c[1].body.as_deref(), Some("\nHi\n"));
    // Tera-looking text that is no call stays text.
    assert!(codes("{{ page.title }} and {% raw %}").is_empty());
}

#[test]
fn code_spans_and_fences_are_left_alone() {
    let md = "`{{< youtube a >}}`\n\n```\n{{< youtube b >}}\n{% x() %}\n```\n\n    {{ y(a=1) }}\n";
    assert!(codes(md).is_empty());
}

#[test]
fn escaped_shortcodes_are_literal() {
    let p = split("a {{</* youtube x */>}} b").unwrap();
    assert_eq!(p[1], Piece::Literal("{{< youtube x >}}".into()));
}

#[test]
fn syntax_errors_have_offsets() {
    assert_eq!(split("ab {{< x").unwrap_err().0, 3);
    assert!(split("{% a() %} no end")
        .unwrap_err()
        .1
        .contains("no `{% end %}`"));
    assert!(split("x {{< /y >}}")
        .unwrap_err()
        .1
        .contains("without an opening"));
    assert!(split("{{ f(a=) }}").is_err());
    assert!(split("{{< \"q >}}").is_err());
}

#[test]
fn strip_drops_shortcodes_for_summaries() {
    assert_eq!(strip("{{< youtube a >}}\n\nText."), "\n\nText.");
}
