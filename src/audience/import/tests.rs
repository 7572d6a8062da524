use super::*;

fn read_all(csv: &str, confirmed: bool) -> (Vec<ImportRow>, Vec<BadRow>) {
    let mut r = ImportReader::new(csv.as_bytes(), confirmed).unwrap();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    while let Some(row) = r.next_row() {
        match row {
            Ok(x) => ok.push(x),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

fn statuses(csv: &str) -> Vec<(String, Status)> {
    let (ok, bad) = read_all(csv, true);
    assert!(bad.is_empty(), "{bad:?}");
    ok.into_iter()
        .map(|r| (r.email.as_str().to_string(), r.status))
        .collect()
}

#[test]
fn mailchimp_export_with_bom_and_crlf() {
    let csv = "\u{feff}Email Address,First Name,Last Name,MEMBER_RATING\r\nann@Example.com,Ann,Lee,2\r\nnot-an-email,Bob,,1\r\n";
    let (ok, bad) = read_all(csv, false);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].email.as_str(), "ann@example.com");
    assert_eq!(ok[0].key, "ann@example.com");
    assert_eq!(ok[0].name.as_deref(), Some("Ann Lee"));
    assert_eq!(ok[0].attributes["MEMBER_RATING"], "2");
    assert_eq!(ok[0].status, Status::Pending);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 3);
    assert!(bad[0].reason.contains("not a valid email"), "{:?}", bad[0]);
}

#[test]
fn listmonk_export_attributes_and_quoted_fields() {
    let csv = "email,name,attributes\n\"a@x.org\",\"Lee, Ann\",\"{\"\"city\"\": \"\"Oslo\"\"}\"\nb@x.org,\"Multi\nLine\",\n";
    let (ok, bad) = read_all(csv, true);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(ok[0].name.as_deref(), Some("Lee, Ann"));
    assert_eq!(ok[0].attributes["city"], "Oslo");
    assert_eq!(ok[0].status, Status::Active);
    // Names are one line.
    assert_eq!(ok[1].name.as_deref(), Some("Multi Line"));
    assert_eq!(ok[1].line, 3);
}

#[test]
fn missing_email_column_is_an_error() {
    assert!(ImportReader::new("name,city\nA,B\n".as_bytes(), false).is_err());
}

#[test]
fn buttondown_types() {
    let got = statuses(
        "email,subscriber_type\nz@x.org,unsubscribed\na@x.org,regular\nb@x.org,unactivated\nc@x.org,undeliverable\nd@x.org,complained\n",
    );
    let want = [
        Status::Unsubscribed,
        Status::Active,
        Status::Pending,
        Status::Bounced,
        Status::Complained,
    ];
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), want);
    let (_, bad) = read_all("email,subscriber_type\nq@x.org,mystery\n", true);
    assert!(
        bad[0]
            .reason
            .contains("unknown subscriber_type \"mystery\""),
        "{bad:?}"
    );
}

#[test]
fn mailchimp_files_carry_their_state_and_times() {
    let (ok, _) = read_all(
        "Email Address,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,UNSUB_TIME,UNSUB_REASON\na@x.org,2,2020-01-01 10:00:00,2020-01-01 10:05:00,2021-02-03 04:05:06,N/A (Unsubscribed by an admin)\nb@x.org,1,,2020-01-01 10:00:00,2021-02-03 04:05:06,N/A (Abuse Complaint)\n",
        true,
    );
    assert_eq!(ok[0].status, Status::Unsubscribed);
    assert_eq!(ok[1].status, Status::Complained);
    assert_eq!(
        super::super::format_time(&ok[0].created_at.unwrap()),
        "2020-01-01T10:00:00Z"
    );
    assert_eq!(
        super::super::format_time(&ok[0].confirmed_at.unwrap()),
        "2020-01-01T10:05:00Z"
    );
    assert_eq!(
        super::super::format_time(&ok[0].unsubscribed_at.unwrap()),
        "2021-02-03T04:05:06Z"
    );
    assert_eq!(
        ok[0].attributes["UNSUB_REASON"],
        "N/A (Unsubscribed by an admin)"
    );
    let (ok, _) = read_all(
        "Email Address,MEMBER_RATING,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE\nc@x.org,1,2021-01-01 00:00:00,Spring\n",
        true,
    );
    assert_eq!(ok[0].status, Status::Bounced);
}

#[test]
fn flags_of_substack_and_ghost() {
    let got = statuses(
        "email,active_subscription,expiry,plan,email_disabled,created_at\na@x.org,false,,other,false,2024-01-01T00:00:00.000Z\nb@x.org,true,2026-01-01,monthly,true,2024-01-01T00:00:00.000Z\n",
    );
    assert_eq!(got[0].1, Status::Active);
    assert_eq!(got[1].1, Status::Unsubscribed);
    let got = statuses(
        "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers,status\n1,a@x.org,A,,true,false,,2024-01-15T10:00:00.000Z,,,,free\n2,b@x.org,B,,false,false,,2024-01-15T10:00:00.000Z,,,,paid\n",
    );
    assert_eq!(got[0].1, Status::Active);
    assert_eq!(got[1].1, Status::Unsubscribed);
}

#[test]
fn only_subscribed_rows_become_active() {
    // Unconfirmed in the tool stays pending even with --confirmed.
    let got = statuses(
        "uuid,email,name,attributes,status,created_at,updated_at\nu1,a@x.org,A,{},enabled,2024-01-02 10:00:00.123456 +0000 UTC,2024-01-02 10:00:00.123456 +0000 UTC\nu2,b@x.org,B,{},disabled,2024-01-02 10:00:00 +0000 UTC,2024-01-02 10:00:00 +0000 UTC\nu3,c@x.org,C,{},blocklisted,2024-01-02 10:00:00 +0000 UTC,2024-01-02 10:00:00 +0000 UTC\n",
    );
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        [Status::Active, Status::Unsubscribed, Status::Unsubscribed]
    );
    let got = statuses("id,email_address,first_name,state,created_at\n1,a@x.org,A,inactive,2024-01-15T10:30:00Z\n2,b@x.org,B,cancelled,2024-01-15T10:30:00Z\n");
    assert_eq!(got[0].1, Status::Pending);
    assert_eq!(got[1].1, Status::Unsubscribed);
    let got = statuses("email,status,tier,created_at,unsubscribed_at\na@x.org,active,free,2023-03-24 10:23:10 UTC,2024-03-13 11:33:53 UTC\nb@x.org,inactive,free,2023-03-24 10:23:10 UTC,\n");
    assert_eq!(got[0].1, Status::Unsubscribed);
    assert_eq!(got[1].1, Status::Unsubscribed);
}

#[test]
fn huge_names_are_capped() {
    let csv = format!("email,name\na@x.org,{}\n", "n".repeat(1_000_000));
    let (ok, _) = read_all(&csv, true);
    assert_eq!(ok[0].name.as_ref().unwrap().chars().count(), 200);
}

#[test]
fn quoted_local_parts_are_refused() {
    let (ok, bad) = read_all("email\n\"\"\"a@b\"\"@example.com\"\n", true);
    assert!(ok.is_empty());
    assert!(bad[0].reason.contains("not a valid email"), "{bad:?}");
}
