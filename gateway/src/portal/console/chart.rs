//! The decisions page's chart: allows, sign-in prompts, MFA prompts and
//! blocks per hour over the last day, as bars the server draws (inline
//! SVG: no script, no external file, within the pages' CSP), and the top
//! reasons for blocks.

use crate::i18n::{Lang, t};
use crate::store::decisions::StoredDecision;
use minijinja::context;
use time::OffsetDateTime;

/// Hours shown.
pub(super) const HOURS: i64 = 24;
/// Most decisions read for the chart (the newest).
pub(super) const MAX_READ: u32 = 5000;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// The series, bottom to top, with their colours (contrast ≥ 3:1 on white).
const SERIES: &[(&str, &str, &str)] = &[
    ("allow", "console-chart-allowed", "#1e7b34"),
    ("sign_in", "console-chart-sign-in", "#5b6b7a"),
    ("mfa", "console-chart-mfa", "#a15c00"),
    ("block", "console-chart-blocked", "#b3261e"),
];

/// The chart of `list` (decisions since `now - HOURS`): bars, axis
/// labels, legend with totals, and the top reasons for blocks.
pub(super) fn chart(list: &[StoredDecision], now: OffsetDateTime, lang: Lang) -> minijinja::Value {
    let start = now - time::Duration::hours(HOURS);
    let n = HOURS as usize;
    let mut counts = vec![[0u64; 4]; n];
    let mut totals = [0u64; 4];
    let mut reasons: Vec<(String, u64)> = Vec::new();
    for d in list {
        let Some(series) = SERIES.iter().position(|(k, _, _)| *k == d.decision) else {
            continue;
        };
        let hours = (d.at - start).whole_hours();
        let Ok(slot) = usize::try_from(hours) else {
            continue;
        };
        // `now` itself (same second) and a replica's clock a little ahead
        // belong to the last hour.
        let slot = slot.min(n - 1);
        counts[slot][series] += 1;
        totals[series] += 1;
        if d.decision == "block" {
            let r = d.reason.clone().unwrap_or_else(|| "unknown".into());
            match reasons.iter_mut().find(|(k, _)| *k == r) {
                Some((_, c)) => *c += 1,
                None => reasons.push((r, 1)),
            }
        }
    }
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    reasons.truncate(5);
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM - 10.0;
    let slot_w = (WIDTH - LEFT) / HOURS as f64;
    let mut bars = Vec::new();
    for (i, c) in counts.iter().enumerate() {
        let mut y = HEIGHT - BOTTOM;
        for (s, count) in c.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let h = plot_h * (*count as f64) / (max as f64);
            y -= h;
            bars.push(context! {
                x => format!("{:.1}", LEFT + i as f64 * slot_w + 1.0),
                y => format!("{y:.1}"),
                w => format!("{:.1}", slot_w - 2.0),
                h => format!("{h:.1}"),
                fill => SERIES[s].2,
                title => format!("{}: {count}", t!(lang, SERIES[s].1)),
            });
        }
    }
    // An hour label every 6 hours, in UTC.
    let labels: Vec<minijinja::Value> = (0..=HOURS)
        .step_by(6)
        .map(|h| {
            let t = start + time::Duration::hours(h);
            context! {
                x => format!("{:.1}", LEFT + h as f64 * slot_w),
                text => format!("{:02}:00", t.hour()),
                // The last label ends at the edge rather than past it.
                anchor => if h == HOURS { "end" } else { "middle" },
            }
        })
        .collect();
    let legend: Vec<minijinja::Value> = SERIES
        .iter()
        .zip(totals)
        .map(|((_, label, fill), total)| context! { label => t!(lang, label), fill, total })
        .collect();
    let reasons: Vec<minijinja::Value> = reasons
        .into_iter()
        .map(|(reason, count)| context! { reason, count })
        .collect();
    context! {
        width => WIDTH, height => HEIGHT, left => LEFT, axis_x => LEFT - 6.0,
        base => HEIGHT - BOTTOM, label_y => HEIGHT - 5.0,
        max, bars, labels, legend, reasons,
        total => totals.iter().sum::<u64>(),
        truncated => list.len() >= MAX_READ as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(at: OffsetDateTime, decision: &str, reason: Option<&str>) -> StoredDecision {
        StoredDecision {
            id: 0,
            request_id: "r".into(),
            at,
            app: "wiki".into(),
            user_id: None,
            decision: decision.into(),
            reason: reason.map(str::to_string),
            entry: serde_json::Value::Null,
        }
    }

    #[test]
    fn counts_per_series_and_top_block_reasons() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(100);
        let h = |n: i64| now - time::Duration::hours(n);
        let list = [
            d(h(1), "allow", None),
            d(h(1), "block", Some("location")),
            d(h(2), "block", Some("not_shared")),
            d(h(3), "block", Some("not_shared")),
            d(h(3), "mfa", Some("mfa_required")),
            // Older than the chart: left out.
            d(h(30), "block", Some("policy_block")),
            // This very second: the last hour.
            d(now, "allow", None),
        ];
        let c = chart(&list, now, Lang::EN);
        assert_eq!(c.get_attr("total").expect("value").as_usize(), Some(6));
        let reasons = c.get_attr("reasons").expect("reasons");
        let first = reasons.get_item(&0.into()).expect("first");
        assert_eq!(
            first.get_attr("reason").expect("reason").as_str(),
            Some("not_shared")
        );
        assert_eq!(first.get_attr("count").expect("value").as_usize(), Some(2));
        assert_eq!(reasons.len(), Some(2));
        // One bar per series and hour with decisions: 2 (the last hour,
        // `now`'s allow with the one an hour ago) + 1 + 2.
        assert_eq!(c.get_attr("bars").expect("bars").len(), Some(5));
    }
}
