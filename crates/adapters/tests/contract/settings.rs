use crate::support::store;

#[test]
fn a_setting_is_generated_once_and_then_kept() {
    let s = store();
    let (first, created) = s
        .setting_or_insert("api_key", || "one".to_owned())
        .expect("stored");
    assert_eq!((first.as_str(), created), ("one", true));
    let (again, created) = s
        .setting_or_insert("api_key", || "two".to_owned())
        .expect("read");
    assert_eq!((again.as_str(), created), ("one", false));
}

#[test]
fn ping_answers_when_the_database_is_up() {
    assert!(store().database().ping().is_ok());
}
