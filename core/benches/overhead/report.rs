//! The summary table: one row per figure, rtcgate next to raw webrtc, GStreamer
//! webrtcbin and aiortc, and the ratios rtcgate/each. Printed as Markdown so it
//! can go straight into docs/benchmarks.md.

use crate::stack::Contender;

/// One figure measured on every contender that could be measured.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured, with its unit.
    pub label: String,
    /// Values in [`Contender::COLUMNS`] order (`None`: not measured).
    pub values: [Option<f64>; 4],
    /// Decimals to print.
    pub decimals: usize,
}

impl Row {
    /// A row with rtcgate's and raw webrtc's values.
    pub fn new(label: impl Into<String>, rtcgate: Option<f64>, raw: Option<f64>) -> Row {
        Row {
            label: label.into(),
            values: [rtcgate, raw, None, None],
            decimals: 1,
        }
    }

    /// A row with a value per contender (missing ones `None`).
    pub fn of(label: impl Into<String>, value: impl Fn(Contender) -> Option<f64>) -> Row {
        Row {
            label: label.into(),
            values: Contender::COLUMNS.map(value),
            decimals: 1,
        }
    }

    /// Prints values with `decimals` decimals.
    pub fn decimals(mut self, decimals: usize) -> Row {
        self.decimals = decimals;
        self
    }

    /// rtcgate's value divided by column `column`'s.
    fn ratio(&self, column: usize) -> Option<f64> {
        match (self.values[0], self.values[column]) {
            (Some(gate), Some(other)) if other != 0.0 && gate.is_finite() && other.is_finite() => {
                Some(gate / other)
            }
            _ => None,
        }
    }
}

/// Formats `rows` as a Markdown table; columns nobody measured are left out.
pub fn table(rows: &[Row]) -> String {
    let measured: Vec<usize> = (0..Contender::COLUMNS.len())
        .filter(|&c| c == 0 || rows.iter().any(|r| r.values[c].is_some()))
        .collect();
    let cell = |value: Option<f64>, decimals: usize| match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "–".to_owned(),
    };
    let mut header = vec!["measurement".to_owned()];
    header.extend(
        measured
            .iter()
            .map(|&c| Contender::COLUMNS[c].name().to_owned()),
    );
    header.extend(
        measured
            .iter()
            .skip(1)
            .map(|&c| format!("rtcgate/{}", Contender::COLUMNS[c].name())),
    );
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut line = vec![row.label.clone()];
            line.extend(measured.iter().map(|&c| cell(row.values[c], row.decimals)));
            line.extend(measured.iter().skip(1).map(|&c| cell(row.ratio(c), 2)));
            line
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &lines {
        for (width, text) in widths.iter_mut().zip(line) {
            *width = (*width).max(text.chars().count());
        }
    }
    let format_line = |cells: &[String]| {
        let mut out = String::from("|");
        for (i, (text, width)) in cells.iter().zip(&widths).enumerate() {
            let pad = width - text.chars().count();
            if i == 0 {
                out += &format!(" {text}{} |", " ".repeat(pad));
            } else {
                out += &format!(" {}{text} |", " ".repeat(pad));
            }
        }
        out
    };
    let mut out = format_line(&header) + "\n|";
    for (i, width) in widths.iter().enumerate() {
        let dashes = "-".repeat(*width);
        out += &if i == 0 {
            format!(" {dashes} |")
        } else {
            format!(" {}: |", &dashes[1..])
        };
    }
    out += "\n";
    for line in &lines {
        out += &format_line(line);
        out += "\n";
    }
    out
}
