//! The OpenAPI 3.1 document, generated from the route table
//! ([`super::ROUTES`]) and the schemas below (the shapes the handlers
//! serialise; the API tests check answers against their required fields).

use serde_json::{json, Map, Value};

use super::{PREFIX, ROUTES};

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn s() -> Value {
    json!({"type": "string"})
}

fn s_null() -> Value {
    json!({"type": ["string", "null"]})
}

fn i() -> Value {
    json!({"type": "integer"})
}

fn arr(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// An object schema: every listed property is required unless its name
/// ends in `?`.
fn obj(props: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema) in props {
        let (name, optional) = match name.strip_suffix('?') {
            Some(n) => (n, true),
            None => (*name, false),
        };
        if !optional {
            required.push(Value::from(name));
        }
        properties.insert(name.to_string(), schema.clone());
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn campaign() -> Value {
    obj(&[
        ("id", i()),
        ("kind", json!({"enum": ["post", "digest"]})),
        ("subject", s()),
        (
            "status",
            json!({"enum": ["scheduled", "queued", "sending", "paused", "done", "cancelled", "failed"]}),
        ),
        ("total", i()),
        ("sent", i()),
        ("failed", i()),
        ("pending", i()),
        ("skipped", i()),
        ("posts", arr(s())),
        ("last_error", s_null()),
        // Paused on an unreachable server: when a worker tries again.
        ("retry_at", s_null()),
        ("created_at", s()),
        ("started_at", s_null()),
        ("finished_at", s_null()),
        ("scheduled_at", s_null()),
        // Send-time safety: the rate (msg/s) a run settled at after the
        // server asked it to slow down, what happened, and why the
        // circuit breaker paused it.
        ("settled_rate", json!({"type": ["number", "null"]})),
        ("throttled", s_null()),
        ("breaker", s_null()),
    ])
}

fn subscriber() -> Value {
    obj(&[
        ("id", i()),
        ("email", s()),
        ("name", s_null()),
        (
            "status",
            json!({"enum": ["pending", "active", "unsubscribed", "bounced", "complained"]}),
        ),
        ("source", s()),
        ("attributes", json!({"type": "object"})),
        ("created_at", s()),
        ("confirmed_at", s_null()),
        ("unsubscribed_at", s_null()),
        ("frequency", freq()),
        ("topics", arr(s())),
    ])
}

fn freq() -> Value {
    json!({"enum": ["each", "digest", "both", null], "description": "How often the reader gets mail; null: the newsletter's [publish] mode"})
}

fn b() -> Value {
    json!({"type": "boolean"})
}

fn carrier() -> Value {
    obj(&[
        ("campaign_id", i()),
        ("kind", s()),
        ("status", s()),
        ("created_at", s()),
    ])
}

/// Every schema by name.
pub fn schemas() -> Map<String, Value> {
    subscriber_schemas()
        .into_iter()
        .chain(other_schemas())
        .chain(send_schemas())
        .chain(list_schemas())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn subscriber_schemas() -> Vec<(&'static str, Value)> {
    let attrs = json!({"type": "object", "description": "Free-form attributes; in a PATCH they are merged and a null value removes one"});
    vec![
        (
            "Error",
            obj(&[("error", obj(&[("code", s()), ("message", s())]))]),
        ),
        ("Subscriber", subscriber()),
        (
            "SubscriberPage",
            obj(&[
                ("subscribers", arr(r("Subscriber"))),
                ("total", i()),
                ("page", i()),
                ("per_page", i()),
            ]),
        ),
        (
            "SubscriberDetail",
            obj(&[
                ("subscriber", r("Subscriber")),
                ("confirm_sent_at", s_null()),
                ("confirm_expires_at", s_null()),
                ("erased_before", json!({"type": "boolean"})),
                (
                    "deliveries",
                    arr(obj(&[
                        ("campaign_id", i()),
                        ("kind", s()),
                        ("subject", s()),
                        ("status", s()),
                        ("attempts", i()),
                        ("sent_at", s_null()),
                        ("message_id", s_null()),
                        ("last_reply", s_null()),
                        ("campaign_created_at", s()),
                    ])),
                ),
                (
                    "linked",
                    json!({"type": "object", "description": "Rows of other tables about the subscriber (the bounce log), by table"}),
                ),
            ]),
        ),
        (
            "NewSubscriber",
            obj(&[
                ("email", s()),
                ("name?", s()),
                (
                    "confirmed?",
                    json!({"type": "boolean", "description": "Active at once, no confirmation email (default false: double opt-in)"}),
                ),
                ("attributes?", attrs.clone()),
            ]),
        ),
        (
            "SubscriberPatch",
            obj(&[
                ("name?", s_null()),
                ("attributes?", attrs),
                ("frequency?", freq()),
                (
                    "topics?",
                    json!({"type": "array", "items": {"type": "string"}, "description": "Topics of [topics]; [] means every post"}),
                ),
            ]),
        ),
    ]
}

fn other_schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("Campaign", campaign()),
        ("CampaignList", obj(&[("campaigns", arr(r("Campaign")))])),
        ("TestSend", obj(&[("email", s())])),
        (
            "TestSent",
            obj(&[("campaign_id", i()), ("sent_to", s()), ("through", s())]),
        ),
        (
            "Post",
            obj(&[
                ("slug", s()),
                ("title", s()),
                ("date", s()),
                (
                    "status",
                    json!({"enum": ["published", "draft", "scheduled"]}),
                ),
                (
                    "send_state",
                    json!({"enum": ["sent", "sending", "waiting", "not_published"]}),
                ),
                ("post_campaigns", arr(carrier())),
                ("digest_campaigns", arr(carrier())),
            ]),
        ),
        (
            "PostList",
            obj(&[("posts", arr(r("Post"))), ("errors", arr(s()))]),
        ),
        (
            "WorkerStatus",
            obj(&[
                ("backend", json!({"enum": ["sqlite", "postgres"]})),
                ("workers", arr(r("Sender"))),
                ("digest_schedule", s()),
                ("next_digest_at", s_null()),
                ("posts_waiting_for_digest", arr(s())),
                ("posts_not_yet_seen", arr(s())),
                ("posts_at_gate", arr(obj(&[("slug", s()), ("why", s())]))),
                ("publish_mode", s()),
                ("campaigns_in_progress", arr(r("Campaign"))),
                ("campaigns_scheduled", arr(r("Campaign"))),
            ]),
        ),
        (
            "Sender",
            obj(&[
                ("id", s()),
                ("host", s()),
                ("pid", i()),
                ("role", json!({"enum": ["worker", "send"]})),
                ("campaign", json!({"type": ["integer", "null"]})),
                ("started_at", s()),
                ("heartbeat_at", s()),
            ]),
        ),
        ("OpenApi", json!({"type": "object"})),
    ]
}

fn send_schemas() -> Vec<(&'static str, Value)> {
    let count = |key: &str| obj(&[(key, s()), ("count", i())]);
    vec![
        (
            "NewCampaign",
            json!({
                "type": "object",
                "description": "Exactly one of post and digest",
                "properties": {
                    "post": {"type": "string", "description": "The post's slug"},
                    "digest": obj(&[("since?", s()), ("until?", s()), ("force?", b())]),
                    "at": {"type": "string", "format": "date-time", "description": "RFC 3339: scheduled for then (the worker starts it)"},
                    "canary": {"type": "integer", "minimum": 0, "description": "Canary size instead of [send] canary (0: none)"},
                    "dry_run": {"type": "boolean", "description": "Report, send nothing (200 and a DryRun)"},
                    "force": {"type": "boolean", "description": "Send a post that was already sent"},
                },
                "oneOf": [{"required": ["post"]}, {"required": ["digest"]}],
            }),
        ),
        (
            "CampaignStarted",
            obj(&[
                ("id", i()),
                ("status", s()),
                ("total", i()),
                ("scheduled_at", s_null()),
            ]),
        ),
        (
            "DryRun",
            obj(&[
                ("subject", s()),
                ("recipients", i()),
                ("posts", arr(s())),
                ("message_bytes", i()),
                ("html_bytes", i()),
                ("text_bytes", i()),
                (
                    "since_last",
                    json!({"oneOf": [{"type": "null"}, obj(&[
                        ("campaign_id", i()),
                        ("started_at", s()),
                        ("subject", s()),
                        ("recipients", i()),
                        ("readers_added", arr(count("source"))),
                        ("readers_removed", arr(obj(&[("status", s()), ("source", s()), ("count", i())]))),
                        ("erased", i()),
                        ("templates_changed", arr(s())),
                        ("subject_changed", b()),
                        ("growth", json!({"type": ["number", "null"]})),
                        ("growth_warning", b()),
                    ])]}),
                ),
            ]),
        ),
    ]
}

fn list_schemas() -> Vec<(&'static str, Value)> {
    let n = i;
    vec![
        (
            "Created",
            obj(&[
                ("subscriber", r("Subscriber")),
                (
                    "outcome",
                    json!({"enum": ["active", "confirmation_sent", "confirmation_recently_sent"]}),
                ),
            ]),
        ),
        (
            "Erased",
            obj(&[("id", i()), ("erased", json!({"type": "boolean"}))]),
        ),
        (
            "Csv",
            json!({"type": "string", "description": "CSV: a header row, then one subscriber a row"}),
        ),
        (
            "ImportReport",
            obj(&[
                ("file", s()),
                ("format", s()),
                ("format_name", s()),
                ("dry_run", b()),
                ("active", n()),
                ("pending", n()),
                ("unsubscribed", n()),
                ("bounced", n()),
                ("complained", n()),
                ("skipped", n()),
                ("invalid", n()),
                ("valid", n()),
                ("new", n()),
                ("updated", n()),
                ("unchanged", n()),
                ("errors", arr(obj(&[("line", n()), ("reason", s())]))),
            ]),
        ),
        (
            "Bounce",
            obj(&[
                ("id", i()),
                ("subscriber", s_null()),
                ("subscriber_id", json!({"type": ["integer", "null"]})),
                ("campaign", json!({"type": ["integer", "null"]})),
                ("kind", s()),
                ("blocked", b()),
                ("status", s_null()),
                ("reason", s()),
                ("diagnostic", s_null()),
                ("source", s()),
                ("time", s()),
            ]),
        ),
        (
            "BouncePage",
            obj(&[
                ("bounces", arr(r("Bounce"))),
                ("total", i()),
                ("page", i()),
                ("per_page", i()),
            ]),
        ),
    ]
}

/// The media type of a schema's body: CSV for `Csv`, else JSON.
fn content(schema: &str) -> Value {
    let media = if schema == "Csv" {
        "text/csv"
    } else {
        "application/json"
    };
    json!({media: {"schema": r(schema)}})
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Malformed request (JSON, path or query)",
        401 => "Missing or wrong bearer token, or GAZETTE_ADMIN_TOKEN unset",
        404 => "No such subscriber, campaign, post or endpoint",
        409 => "The state forbids it (already on the list, erased, finished campaign)",
        413 => "The body is too large",
        422 => "Well-formed but invalid (an address, an unknown field, a post that is not published, nothing to send)",
        502 => "The mail server refused or could not be reached",
        _ => "Error",
    }
}

fn operation(route: &super::Route) -> Value {
    let mut params: Vec<Value> = route
        .query
        .iter()
        .map(|(name, ty, desc)| {
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}})
        })
        .collect();
    for seg in route.path.split('/').filter_map(|s| s.strip_prefix('{')) {
        let name = seg.trim_end_matches('}');
        params.push(
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}}),
        );
    }
    let mut responses = Map::new();
    for (status, schema) in std::iter::once(&route.ok).chain(route.more) {
        responses.insert(
            status.to_string(),
            json!({"description": "Success", "content": content(schema)}),
        );
    }
    for status in route.errors.iter().chain(&[401]) {
        responses.insert(
            status.to_string(),
            json!({"description": reason(*status), "content": {"application/json": {"schema": r("Error")}}}),
        );
    }
    let mut op = json!({
        "summary": route.summary,
        "operationId": format!("{} {}", route.method, route.path),
        "parameters": params,
        "responses": responses,
    });
    if let Some(body) = route.body {
        op["requestBody"] = json!({"required": true, "content": content(body)});
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(format!("{PREFIX}{}", route.path))
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gazette admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "On the admin listener ([web] admin_listen). Every request needs Authorization: Bearer $GAZETTE_ADMIN_TOKEN.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    })
}
