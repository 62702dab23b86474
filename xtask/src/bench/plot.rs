//! results.png: found ratio and achieved rate against the rate asked, one line per tool.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, anyhow};
use plotters::{coord::ranged1d::SegmentValue, prelude::*, style::FontStyle};

use super::{Rate, report::Row, tools::Tool};

/// DejaVu Sans, from Debian's fonts-dejavu-core (installed by `cargo xtask setup`).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FAMILY: &str = "sans-serif";

fn register_font() -> Result<()> {
    let bytes = fs::read(FONT).with_context(|| {
        format!("reading {FONT} (apt-get install fonts-dejavu-core; cargo xtask setup does)")
    })?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{FONT} is not a usable font"))
}

/// One colour per tool (the tab10 palette), distinct for up to six tools.
fn color(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 6] = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x8c, 0x56, 0x4b),
    ];
    PALETTE[index % PALETTE.len()]
}

/// The rows of `tool`, as (rate index, value) points.
fn points(
    rows: &[Row],
    rates: &[Rate],
    tool: Tool,
    value: impl Fn(&Row) -> f64,
) -> Vec<(SegmentValue<usize>, f64)> {
    rates
        .iter()
        .enumerate()
        .filter_map(|(i, &rate)| {
            let row = rows.iter().find(|r| r.tool == tool && r.rate == rate)?;
            Some((SegmentValue::CenterOf(i), value(row)))
        })
        .collect()
}

/// One of the two charts: a value of each row against the rate asked.
struct Panel {
    caption: &'static str,
    y_desc: &'static str,
    y_max: f64,
    value: fn(&Row) -> f64,
}

pub fn draw(rows: &[Row], rates: &[Rate], tools: &[Tool], path: &Path) -> Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1400, 600)).into_drawing_area();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(700);
        let label = |value: &SegmentValue<usize>| match value {
            SegmentValue::CenterOf(i) => rates.get(*i).map(|rate| rate.label()).unwrap_or_default(),
            _ => String::new(),
        };
        let achieved_max = rows
            .iter()
            .map(|row| row.achieved_pps() / 1e6)
            .chain(
                rates
                    .iter()
                    .filter(|&&r| r != Rate::Max)
                    .map(|r| r.pps() as f64 / 1e6),
            )
            .fold(0.1f64, f64::max)
            * 1.1;
        let panels = [
            (
                &left,
                Panel {
                    caption: "Found / expected (open + closed)",
                    y_desc: "found ratio",
                    y_max: 1.05,
                    value: |row| row.found_ratio(),
                },
            ),
            (
                &right,
                Panel {
                    caption: "Achieved rate (probes at the target)",
                    y_desc: "achieved (M probes/s)",
                    y_max: achieved_max,
                    value: |row| row.achieved_pps() / 1e6,
                },
            ),
        ];
        for (index, (area, panel)) in panels.into_iter().enumerate() {
            let Panel {
                caption,
                y_desc,
                y_max,
                value,
            } = panel;
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FAMILY, 24))
                .margin(20)
                .x_label_area_size(50)
                .y_label_area_size(70)
                // Segments 0..=n-1: one per rate.
                .build_cartesian_2d(
                    (0..rates.len().saturating_sub(1)).into_segmented(),
                    0f64..y_max,
                )?;
            chart
                .configure_mesh()
                .x_labels(rates.len() + 1)
                .x_label_formatter(&label)
                .x_desc("rate asked (probes/s)")
                .y_desc(y_desc)
                .light_line_style(WHITE.mix(0.0))
                .bold_line_style(BLACK.mix(0.12))
                .label_style((FAMILY, 16))
                .axis_desc_style((FAMILY, 18))
                .draw()?;
            if index == 1 {
                // What was asked, where it is a number.
                let asked: Vec<(SegmentValue<usize>, f64)> = rates
                    .iter()
                    .enumerate()
                    .filter(|(_, rate)| **rate != Rate::Max)
                    .map(|(i, rate)| (SegmentValue::CenterOf(i), rate.pps() as f64 / 1e6))
                    .collect();
                chart
                    .draw_series(LineSeries::new(asked, BLACK.mix(0.35).stroke_width(1)))?
                    .label("asked")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.35).stroke_width(1))
                    });
            }
            // Tools that agree draw over each other: the first ones wider, with bigger
            // markers, so every line stays visible.
            for (i, &tool) in tools.iter().enumerate() {
                let color = color(i);
                let width = 2 * (tools.len() - i) as u32 + 1;
                let series = points(rows, rates, tool, value);
                chart
                    .draw_series(LineSeries::new(series.clone(), color.stroke_width(width)))?
                    .label(tool.name())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
                    });
                chart.draw_series(
                    series
                        .into_iter()
                        .map(move |point| Circle::new(point, width + 3, color.filled())),
                )?;
            }
            chart
                .configure_series_labels()
                .label_font((FAMILY, 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(if index == 0 {
                    SeriesLabelPosition::LowerLeft
                } else {
                    SeriesLabelPosition::UpperLeft
                })
                .draw()?;
        }
        root.present()?;
        Ok(())
    })();
    result.map_err(|err| anyhow!("drawing {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(tool: Tool, rate: Rate, achieved: f64, found: usize) -> Row {
        Row {
            tool,
            rate,
            planned: 1000,
            probes: achieved as u64,
            span: Duration::from_secs(1),
            answered: 0,
            delivered: 0,
            open_found: found,
            closed_found: 0,
            wrong: 0,
            open_expected: 100,
            closed_expected: 0,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
            notes: Vec::new(),
        }
    }

    #[test]
    fn draws_a_png() {
        let rates = [Rate::Pps(100_000), Rate::Pps(1_000_000), Rate::Max];
        let tools = [Tool::Scanner, Tool::Masscan, Tool::Zmap];
        let mut rows = Vec::new();
        for (i, &rate) in rates.iter().enumerate() {
            rows.push(row(Tool::Scanner, rate, 1e5 * (i + 1) as f64, 100));
            rows.push(row(
                Tool::Masscan,
                rate,
                0.8e5 * (i + 1) as f64,
                60 - 10 * i,
            ));
            rows.push(row(Tool::Zmap, rate, 1e5 * (i + 1) as f64, 100));
        }
        let path = std::env::temp_dir().join(format!("bench-plot-{}.png", std::process::id()));
        draw(&rows, &rates, &tools, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        if std::env::var_os("KEEP_PLOT").is_none() {
            let _ = fs::remove_file(&path);
        }
    }
}
