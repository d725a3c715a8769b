//! The agent's report as the harness reads it: any JSON the agent could print (arbitrary
//! values, and a real report with its parts broken) deserialises into the typed results or is
//! an error, never a panic; and whatever deserialises comes back the same through a round trip.

use super::*;
use crate::observation::Observation;
use crate::AgentArgs;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// A real report: the cheap readings of this process and a few tries that change nothing.
fn sample() -> Value {
    let mut obs = crate::agent::observe_cheap();
    obs.tried = vec![
        Tried::from(Ids {
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
        }),
        crate::agent::tries::run(&Try::from(ClocksArgs {})),
        Tried::Refused(Refusal {
            name: "sysctl".into(),
            reason: "not under /proc/sys".into(),
        }),
    ];
    serde_json::to_value(obs).expect("an observation serialises")
}

/// The names the report's JSON uses (keys and tags), so that arbitrary objects often look
/// like parts of a report and reach past the first mismatch.
fn names() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    out.push(k.clone());
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::String(s) if s.len() < 24 => out.push(s.clone()),
            _ => {}
        }
    }
    let mut out = vec![
        "tried".to_string(),
        "try".to_string(),
        "ok".to_string(),
        "err".to_string(),
        "errno".to_string(),
    ];
    walk(&sample(), &mut out);
    let tags = [
        "alloc",
        "caps",
        "clocks",
        "forks",
        "hostproc",
        "ids",
        "ipc",
        "mnt",
        "net",
        "nnp",
        "oldroot",
        "sysctl",
        "userns",
        "release_agent",
        "refused",
    ];
    out.extend(tags.iter().map(|t| t.to_string()));
    out.sort();
    out.dedup();
    out
}

fn name() -> impl Strategy<Value = String> {
    let names = names();
    prop_oneof![
        4 => proptest::sample::select(names),
        1 => "[a-z_]{0,8}",
    ]
}

/// Any JSON value; numbers are integers or exact binary fractions, so that a round trip
/// through text cannot change one by a rounding.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-4096i32..4096).prop_map(|n| json!(f64::from(n) / 8.0)),
        name().prop_map(Value::String),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((name(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Parses `v` as `T`; whatever parses must come back equal through its text.
fn parses_or_errs<T>(v: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(t) = serde_json::from_value::<T>(v.clone()) {
        let text = serde_json::to_string(&t).expect("a parsed value serialises");
        let again: T = serde_json::from_str(&text).expect("a serialised value parses");
        prop_assert_eq!(again, t);
    }
    Ok(())
}

/// Every type of the agent's report (and of its command line) on `v`.
fn every_type(v: &Value) -> Result<(), TestCaseError> {
    parses_or_errs::<Observation>(v)?;
    parses_or_errs::<Vec<Tried>>(v)?;
    parses_or_errs::<Tried>(v)?;
    parses_or_errs::<Try>(v)?;
    parses_or_errs::<CallError>(v)?;
    parses_or_errs::<Called<Ended>>(v)?;
    Ok(())
}

/// One change to a report: a value somewhere in it replaced, a key removed, or a key added.
#[derive(Debug, Clone)]
enum Change {
    Replace(usize, Value),
    Remove(usize),
    Add(usize, String, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), json_value()).prop_map(|(i, v)| Change::Replace(i, v)),
        any::<usize>().prop_map(Change::Remove),
        (any::<usize>(), name(), json_value()).prop_map(|(i, k, v)| Change::Add(i, k, v)),
    ]
}

/// The JSON pointers of every value in `v`, root first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn apply(v: &mut Value, c: &Change) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    let pick = |i: usize| all[i % all.len()].clone();
    match c {
        Change::Replace(i, new) => {
            if let Some(slot) = v.pointer_mut(&pick(*i)) {
                *slot = new.clone();
            }
        }
        Change::Remove(i) => {
            let p = pick(*i);
            if let Some((parent, key)) = p.rsplit_once('/') {
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(n) = key.parse::<usize>() {
                            if n < a.len() {
                                a.remove(n);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Change::Add(i, k, new) => {
            if let Some(Value::Object(m)) = v.pointer_mut(&pick(*i)) {
                m.insert(k.clone(), new.clone());
            }
        }
    }
}

#[test]
fn the_sample_is_a_report() {
    let v = sample();
    every_type(&v).unwrap();
    let obs: Observation = serde_json::from_value(v).unwrap();
    assert_eq!(obs.tried.len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_parses_or_errs(v in json_value()) {
        every_type(&v)?;
    }

    #[test]
    fn a_broken_report_parses_or_errs(changes in proptest::collection::vec(change(), 1..5)) {
        let mut v = sample();
        for c in &changes {
            apply(&mut v, c);
        }
        every_type(&v)?;
        if let Some(tried) = v.get("tried") {
            every_type(tried)?;
            if let Some(first) = tried.get(0) {
                every_type(first)?;
            }
        }
    }

    #[test]
    fn any_text_parses_or_errs(text in "\\PC{0,200}") {
        let _ = serde_json::from_str::<Observation>(&text);
        let _ = serde_json::from_str::<Vec<Tried>>(&text);
    }

    #[test]
    fn any_agent_command_line_parses_or_errs(args in proptest::collection::vec(
        prop_oneof![
            Just("--try".to_string()),
            Just("--linger-ms".to_string()),
            Just("--spin-ms".to_string()),
            Just("--escape".to_string()),
            "\\PC{0,40}",
            json_value().prop_map(|v| v.to_string()),
        ],
        0..8,
    )) {
        if let Ok(parsed) = AgentArgs::parse(args) {
            prop_assert_eq!(AgentArgs::parse(parsed.to_argv()).ok(), Some(parsed));
        }
    }
}
