//! The report: results merged with earlier runs, and the readiness plot.

use std::path::PathBuf;

use serde_json::Value;

/// The scenarios of `earlier` that `fresh` did not run again, then `fresh`, in scenario order.
pub(crate) fn merge_results(earlier: Vec<Value>, fresh: Vec<Value>) -> Vec<Value> {
    const ORDER: [&str; 5] = ["converge", "steady_state", "sweeper", "recreation", "memory"];
    let mut merged: Vec<Value> = earlier
        .into_iter()
        .filter(|old| !fresh.iter().any(|new| new["scenario"] == old["scenario"]))
        .collect();
    merged.extend(fresh);
    merged.sort_by_key(|r| ORDER.iter().position(|s| r["scenario"] == *s).unwrap_or(ORDER.len()));
    merged
}

/// A line of the plot: label, (seconds, ready) points, lower bound.
type Series = (String, Vec<(f64, f64)>, Option<f64>);

/// Ready resources over time for the scenarios with a timeline.
pub(crate) fn plot(results: &[Value], path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "cannot register the font")?;
    let series: Vec<Series> = results
        .iter()
        .filter_map(|r| {
            let timeline = r["timeline"].as_array()?;
            let points = timeline
                .iter()
                .map(|p| {
                    let t = p[0].as_f64().unwrap_or_default();
                    (t, p[1].as_f64().unwrap_or_default() + p[2].as_f64().unwrap_or_default())
                })
                .collect();
            let label = match r["scenario"].as_str()? {
                "converge" => format!("1: {} profiles + {} spaces applied at once", r["profiles"], r["spaces"]),
                other => format!("4: {other} with {} profiles + {} spaces", r["profiles"], r["spaces"]),
            };
            Some((label, points, r["lower_bound_seconds"].as_f64()))
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let x_max = series
        .iter()
        .flat_map(|(_, p, lb)| p.iter().map(|(t, _)| *t).chain(lb.iter().copied()))
        .fold(10.0f64, f64::max)
        * 1.05;
    let y_max = series
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|(_, y)| *y))
        .fold(10.0f64, f64::max)
        * 1.1;
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Ready resources over time", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the resources were applied")
        .y_desc("Ready profiles + spaces")
        .draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (label, points, lower_bound)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if let Some(lb) = lower_bound {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(*lb, 0.0), (*lb, y_max)],
                    6,
                    4,
                    color.stroke_width(1),
                ))?
                .label(format!("scenario {} lower bound ({lb:.0} s)", &label[..1]))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
