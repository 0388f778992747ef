//! `pos-lottery verify` and `pos-lottery stats`: answers from a data directory alone.
//!
//! Both run the same [`crate::ledger::audit`] the server runs at start-up, and change nothing.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Serialize;

use crate::ledger::{
    audit, audit_slashes, Audit, AuditError, CHAIN_FILE, DRAWS_FILE, SLASHES_FILE,
};
use crate::stats::{chi_square, ChiSquare};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{dir}/{0}", dir = .1)]
    Bad(AuditError, String),
}

/// Audits `dir` read-only.
pub fn check(dir: &Path) -> Result<Audit, CheckError> {
    let open = |name: &str| {
        let path = dir.join(name);
        File::open(&path)
            .map(|f| BufReader::with_capacity(1 << 20, f))
            .map_err(|source| CheckError::Io {
                path: path.display().to_string(),
                source,
            })
    };
    let bad = |e| CheckError::Bad(e, dir.display().to_string());
    let mut a = audit(open(CHAIN_FILE)?, open(DRAWS_FILE)?, 0).map_err(bad)?;
    // No slashes yet means no file: that is an empty record, not an error.
    let burns = match File::open(dir.join(SLASHES_FILE)) {
        Ok(f) => audit_slashes(BufReader::new(f)).map_err(bad)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(source) => {
            return Err(CheckError::Io {
                path: dir.join(SLASHES_FILE).display().to_string(),
                source,
            })
        }
    };
    a.repairs.extend(burns.repairs.iter().cloned());
    a.burns = burns;
    Ok(a)
}

/// The lines `verify` prints for a directory that checked out.
pub fn verify_report(dir: &Path, a: &Audit) -> Vec<String> {
    let mut lines: Vec<String> = a
        .repairs
        .iter()
        .map(|r| {
            format!(
                "warning: {}/{}: {} at byte {}; the server cuts it off at its next start",
                dir.display(),
                r.file,
                r.reason,
                r.offset
            )
        })
        .collect();
    let draws = a.draw_spans.len();
    lines.push(format!(
        "ok: {} blocks (height {}), {} validators seen, {} draws recomputed, every hash and link checked; {} burned in {} slash{}",
        a.block_count,
        a.block_count.saturating_sub(1),
        a.tallies.len(),
        draws,
        a.burns.burned,
        a.burns.slashes,
        if a.burns.slashes == 1 { "" } else { "es" }
    ));
    lines
}

#[derive(Debug, Serialize)]
pub struct ValidatorStats {
    pub address: String,
    pub draws: u64,
    pub wins: u64,
    pub expected_wins: f64,
    /// wins / expected_wins.
    pub ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct StatsReport {
    pub blocks: u64,
    pub draws: usize,
    pub validators: Vec<ValidatorStats>,
    pub chi_square: Option<ChiSquare>,
}

pub fn stats_report(a: &Audit) -> StatsReport {
    let mut validators: Vec<ValidatorStats> = a
        .tallies
        .iter()
        .map(|(address, t)| ValidatorStats {
            address: address.clone(),
            draws: t.draws,
            wins: t.wins,
            expected_wins: t.expected,
            ratio: (t.expected > 0.0).then(|| t.wins as f64 / t.expected),
        })
        .collect();
    validators.sort_by(|a, b| {
        b.expected_wins
            .total_cmp(&a.expected_wins)
            .then_with(|| a.address.cmp(&b.address))
    });
    StatsReport {
        blocks: a.block_count,
        draws: a.draw_spans.len(),
        validators,
        chi_square: chi_square(a.tallies.values()),
    }
}

/// The plain-text table.
pub fn stats_table(r: &StatsReport) -> String {
    let mut out = format!("{} draws over {} blocks\n\n", r.draws, r.blocks);
    out.push_str(&format!(
        "{:<64}  {:>7}  {:>7}  {:>10}  {:>6}\n",
        "validator", "draws", "wins", "expected", "ratio"
    ));
    for v in &r.validators {
        let ratio = v.ratio.map_or("-".to_string(), |x| format!("{x:.3}"));
        out.push_str(&format!(
            "{:<64}  {:>7}  {:>7}  {:>10.2}  {:>6}\n",
            v.address, v.draws, v.wins, v.expected_wins, ratio
        ));
    }
    out.push('\n');
    match &r.chi_square {
        Some(c) => out.push_str(&format!(
            "chi-square = {:.3} with {} degrees of freedom ({} buckets), p = {:.4}\n{}\n",
            c.statistic,
            c.degrees_of_freedom,
            c.buckets,
            c.p_value,
            if c.p_value < 0.001 {
                "p < 0.001: wins do NOT track stake; look closer"
            } else {
                "wins are consistent with stake-weighted draws (approximate test: entrant sets vary between draws)"
            }
        )),
        None => out.push_str(
            "chi-square: not enough draws yet (needs two buckets expecting at least 5 wins each)\n",
        ),
    }
    out
}
