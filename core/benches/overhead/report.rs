//! The summary table: one row per figure, rtcgate next to raw webrtc, and
//! their ratio. Printed as Markdown so it can go straight into docs/benchmarks.md.

/// One figure measured on both stacks.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured, with its unit.
    pub label: String,
    /// rtcgate's value (`None` when it could not be measured).
    pub rtcgate: Option<f64>,
    /// Raw webrtc's value.
    pub raw: Option<f64>,
    /// Decimals to print.
    pub decimals: usize,
}

impl Row {
    /// A row with both values.
    pub fn new(label: impl Into<String>, rtcgate: Option<f64>, raw: Option<f64>) -> Row {
        Row {
            label: label.into(),
            rtcgate,
            raw,
            decimals: 1,
        }
    }

    /// Prints values with `decimals` decimals.
    pub fn decimals(mut self, decimals: usize) -> Row {
        self.decimals = decimals;
        self
    }

    fn ratio(&self) -> Option<f64> {
        match (self.rtcgate, self.raw) {
            (Some(gate), Some(raw)) if raw != 0.0 && gate.is_finite() && raw.is_finite() => {
                Some(gate / raw)
            }
            _ => None,
        }
    }
}

/// Formats `rows` as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let cell = |value: Option<f64>, decimals: usize| match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "–".to_owned(),
    };
    let lines: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            [
                row.label.clone(),
                cell(row.rtcgate, row.decimals),
                cell(row.raw, row.decimals),
                cell(row.ratio(), 2),
            ]
        })
        .collect();
    let header = [
        "measurement".to_owned(),
        "rtcgate".to_owned(),
        "raw webrtc".to_owned(),
        "rtcgate/raw".to_owned(),
    ];
    let mut widths = header.clone().map(|h| h.chars().count());
    for line in &lines {
        for (width, text) in widths.iter_mut().zip(line) {
            *width = (*width).max(text.chars().count());
        }
    }
    let format_line = |cells: &[String; 4]| {
        let mut out = String::from("|");
        for (i, (text, width)) in cells.iter().zip(widths).enumerate() {
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
