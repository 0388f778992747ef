//! `POST /api/transactions` bodies: a signed transfer, delegation, undelegation or commission
//! as JSON, told apart by `type` (`"transfer"` when absent, so transfers signed before
//! delegation existed still parse).
//!
//! One pass with every field optional, then the fields the type names are required and no
//! other is allowed: a transfer costs one parse whatever the type. Only a body that fails
//! that pass is read again, to say which kind it was meant to be.

use serde::Deserialize;

use crate::tx::{Commission, Delegation, Transfer, Tx};

/// The types `POST /api/transactions` takes, as its error messages list them.
pub const TYPES: &str =
    r#""transfer" (the default when "type" is absent), "delegate", "undelegate" or "commission""#;

/// Every field any kind has; which are required depends on `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(rename = "type")]
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    amount: Option<u64>,
    percent: Option<u64>,
    nonce: Option<u64>,
    signature: Option<String>,
}

/// Just the type, of a body the strict pass refused.
#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

/// The kinds of body, each with its JSON shape.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Transfer,
    Delegate,
    Undelegate,
    Commission,
}

impl Kind {
    fn of(name: Option<&str>) -> Result<Kind, String> {
        match name {
            None | Some("transfer") => Ok(Kind::Transfer),
            Some("delegate") => Ok(Kind::Delegate),
            Some("undelegate") => Ok(Kind::Undelegate),
            Some("commission") => Ok(Kind::Commission),
            Some(other) => Err(unknown_type(&format!("{other:?}"))),
        }
    }

    /// "a transfer", "a delegation", ...: what the error says the body is not.
    fn article(self) -> &'static str {
        match self {
            Kind::Transfer => "a transfer",
            Kind::Delegate => "a delegation",
            Kind::Undelegate => "an undelegation",
            Kind::Commission => "a commission",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Transfer | Kind::Delegate | Kind::Undelegate => {
                &["from", "to", "amount", "nonce", "signature"]
            }
            Kind::Commission => &["from", "percent", "nonce", "signature"],
        }
    }

    /// The expected shape, `{"type": ..., "from", ...}`.
    fn shape(self) -> String {
        let kind = match self {
            Kind::Transfer => r#""type": "transfer" (optional)"#,
            Kind::Delegate => r#""type": "delegate""#,
            Kind::Undelegate => r#""type": "undelegate""#,
            Kind::Commission => r#""type": "commission""#,
        };
        let fields: Vec<String> = self.fields().iter().map(|f| format!("{f:?}")).collect();
        format!("{{{kind}, {}}}", fields.join(", "))
    }

    fn refused(self, why: &str) -> String {
        let mut text = format!("not {} ({why}); expected {}", self.article(), self.shape());
        if self == Kind::Transfer {
            text.push_str(
                r#"; "type" may also be "delegate", "undelegate" or "commission", each with its fields"#,
            );
        }
        text
    }
}

fn unknown_type(found: &str) -> String {
    format!("unknown transaction type {found}; POST /api/transactions takes {TYPES}")
}

/// Parses a body into the transaction it signs (its signature not checked yet).
///
/// # Errors
/// Why it is not one, naming the shape its `type` expects.
pub fn parse(body: &[u8]) -> Result<Tx, String> {
    let b: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Err(why_not(body, &e)),
    };
    let kind = Kind::of(b.kind.as_deref())?;
    let present = [
        ("from", b.from.is_some()),
        ("to", b.to.is_some()),
        ("amount", b.amount.is_some()),
        ("percent", b.percent.is_some()),
        ("nonce", b.nonce.is_some()),
        ("signature", b.signature.is_some()),
    ];
    let fields = kind.fields();
    if let Some((extra, _)) = present
        .iter()
        .find(|&&(name, here)| here && !fields.contains(&name))
    {
        return Err(kind.refused(&format!("unknown field `{extra}`")));
    }
    if let Some(missing) = fields
        .iter()
        .find(|&&name| present.contains(&(name, false)))
    {
        return Err(kind.refused(&format!("missing field `{missing}`")));
    }
    let (from, nonce, signature) = (
        b.from.unwrap_or_default(),
        b.nonce.unwrap_or_default(),
        b.signature.unwrap_or_default(),
    );
    let delegation = || Delegation {
        from: from.clone(),
        to: b.to.clone().unwrap_or_default(),
        amount: b.amount.unwrap_or_default(),
        nonce,
        signature: signature.clone(),
    };
    Ok(match kind {
        Kind::Transfer => Tx::Transfer(Transfer {
            from,
            to: b.to.unwrap_or_default(),
            amount: b.amount.unwrap_or_default(),
            nonce,
            signature,
        }),
        Kind::Delegate => Tx::Delegate(delegation()),
        Kind::Undelegate => Tx::Undelegate(delegation()),
        Kind::Commission => Tx::Commission(Commission {
            from,
            percent: b.percent.unwrap_or_default(),
            nonce,
            signature,
        }),
    })
}

/// Why a body the strict pass refused is not a transaction: an unknown `type`, or serde's
/// reason under the shape of the type it names.
fn why_not(body: &[u8], e: &serde_json::Error) -> String {
    let mut why = e.to_string();
    // serde lists every kind's fields after an unknown one; the shape below says which apply.
    if why.starts_with("unknown field") {
        if let Some(cut) = why.find(", expected") {
            let at = why[cut..]
                .find(" at line ")
                .map(|i| why[cut + i..].to_string())
                .unwrap_or_default();
            why.truncate(cut);
            why.push_str(&at);
        }
    }
    let kind = match serde_json::from_slice::<Peek>(body) {
        Ok(Peek { kind: None }) | Err(_) => Kind::Transfer,
        Ok(Peek {
            kind: Some(serde_json::Value::String(name)),
        }) => match Kind::of(Some(&name)) {
            Ok(kind) => kind,
            Err(unknown) => return unknown,
        },
        Ok(Peek { kind: Some(other) }) => return unknown_type(&other.to_string()),
    };
    kind.refused(&why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn each_type_parses_and_a_transfer_needs_none() {
        let (from, to, sig) = (a('a'), a('b'), "c".repeat(128));
        let transfer =
            format!(r#"{{"from":"{from}","to":"{to}","amount":5,"nonce":2,"signature":"{sig}"}}"#);
        let typed = transfer.replacen('{', r#"{"type":"transfer","#, 1);
        for body in [&transfer, &typed] {
            let tx = parse(body.as_bytes()).unwrap();
            assert_eq!(
                tx.canonical_line(),
                format!("transfer {from} {to} 5 2 {sig}")
            );
        }
        for word in ["delegate", "undelegate"] {
            let body = transfer.replacen('{', &format!(r#"{{"type":"{word}","#), 1);
            let tx = parse(body.as_bytes()).unwrap();
            assert_eq!(tx.canonical_line(), format!("{word} {from} {to} 5 2 {sig}"));
        }
        let body = format!(
            r#"{{"type":"commission","from":"{from}","percent":10,"nonce":3,"signature":"{sig}"}}"#
        );
        let tx = parse(body.as_bytes()).unwrap();
        assert_eq!(tx.canonical_line(), format!("commission {from} 10 3 {sig}"));
    }

    #[test]
    fn refusals_name_the_field_and_the_shape() {
        let cases = [
            (
                r#"{"type":"stake","from":"x"}"#,
                r#"unknown transaction type "stake"; POST /api/transactions takes "transfer""#,
            ),
            (
                r#"{"type":"stake","stake":5}"#,
                r#"unknown transaction type "stake""#,
            ),
            (r#"{"type":5}"#, "unknown transaction type 5"),
            (
                r#"{"type":"commission","from":"x","percent":1,"nonce":1}"#,
                r#"not a commission (missing field `signature`); expected {"type": "commission", "from", "percent", "nonce", "signature"}"#,
            ),
            (
                r#"{"type":"delegate","from":"x","percent":1}"#,
                "not a delegation (unknown field `percent`)",
            ),
            (
                r#"{"type":"undelegate","amount":-1}"#,
                "not an undelegation (invalid value: integer `-1`",
            ),
            (
                r#"{"from":"x","memo":1}"#,
                "not a transfer (unknown field `memo` at line 1",
            ),
            (
                r#"{"from":"x","memo":1}"#,
                r#"; "type" may also be "delegate""#,
            ),
            ("transfer 5 please", "not a transfer (expected ident"),
        ];
        for (body, says) in cases {
            let why = parse(body.as_bytes()).unwrap_err();
            assert!(why.contains(says), "{body}: {why}");
        }
    }
}
