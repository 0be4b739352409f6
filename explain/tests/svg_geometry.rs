//! The timeline's geometry, measured on the picture itself: no two texts overlap, every text
//! stays on the page and a band's label inside its band, every lane is wide enough to see,
//! ticks fall on round times, and the tooltip has the whole environment id. On the docs'
//! scripted day and on a real run of the sandbox's causes script (its `--json` output).

mod support;

use coldmark_explain::render::svg::{CHAR_WIDTH, MIN_LANE_WIDTH};
use support::*;

/// A text's box on the page, estimated as the renderer fits texts (a generous average
/// character width; a box's height is its font size).
#[derive(Debug, Clone)]
struct TextBox {
    text: String,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

fn number(node: &roxmltree::Node, name: &str) -> f64 {
    node.attribute(name)
        .unwrap_or_else(|| panic!("{name} of {node:?}"))
        .parse()
        .unwrap()
}

fn text_boxes(doc: &roxmltree::Document) -> Vec<TextBox> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let text = n.text().unwrap_or("").trim().to_owned();
            let size = number(&n, "font-size");
            let width = text.chars().count() as f64 * size * CHAR_WIDTH;
            let x = number(&n, "x");
            let x0 = match n.attribute("text-anchor") {
                Some("middle") => x - width / 2.0,
                Some("end") => x - width,
                _ => x,
            };
            let y = number(&n, "y");
            TextBox {
                text,
                x0,
                x1: x0 + width,
                y0: y - size * 0.8,
                y1: y + size * 0.2,
            }
        })
        .filter(|b| !b.text.is_empty())
        .collect()
}

fn check(svg: &str, what: &str) {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let page = number(&doc.root_element(), "width");
    let boxes = text_boxes(&doc);
    assert!(boxes.len() > 20, "{what}: {} texts", boxes.len());
    for (i, a) in boxes.iter().enumerate() {
        assert!(
            a.x0 >= 0.0 && a.x1 <= page,
            "{what}: {:?} runs off the page ({page} px)",
            a
        );
        for b in &boxes[i + 1..] {
            let apart = a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0;
            assert!(apart, "{what}: texts overlap:\n  {a:?}\n  {b:?}");
        }
    }
    // A band's label stays inside its band.
    let mut band_labels = 0;
    for band in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("band"))
    {
        let rect = band.children().find(|n| n.has_tag_name("rect")).unwrap();
        let (x0, x1) = (
            number(&rect, "x"),
            number(&rect, "x") + number(&rect, "width"),
        );
        let title = band.children().find(|n| n.has_tag_name("title")).unwrap();
        assert!(title
            .text()
            .unwrap()
            .contains(band.attribute("data-fingerprint").unwrap()));
        for label in band.children().filter(|n| n.has_tag_name("text")) {
            band_labels += 1;
            let b = &text_boxes(&doc)
                .into_iter()
                .find(|b| Some(b.text.as_str()) == label.text().map(str::trim))
                .unwrap();
            assert!(
                b.x0 >= x0 && b.x1 <= x1,
                "{what}: {b:?} outside its band {x0}..{x1}"
            );
        }
    }
    assert!(band_labels > 0, "{what}: no band has room for its label");
    // Every lane wide enough to see, and its whole id on hover.
    for lane in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
    {
        let life = lane
            .children()
            .find(|n| n.attribute("class") == Some("life"))
            .unwrap();
        assert!(number(&life, "width") >= MIN_LANE_WIDTH, "{what}: {life:?}");
        let id = lane.attribute("data-env-id").unwrap();
        let tip = lane.children().find(|n| n.has_tag_name("title")).unwrap();
        assert!(
            tip.text().unwrap().contains(id),
            "{what}: {id} not in its tooltip"
        );
    }
    // Ticks at round times (the spans here are minutes: whole seconds at least).
    let ticks: Vec<i64> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("tick"))
        .map(|n| n.attribute("data-ms").unwrap().parse().unwrap())
        .collect();
    assert!(ticks.len() >= 3, "{what}: ticks {ticks:?}");
    let step = ticks[1] - ticks[0];
    for t in &ticks {
        assert_eq!(
            t % step,
            0,
            "{what}: tick {t} not on a multiple of {step} ms"
        );
        assert_eq!(t % 1000, 0, "{what}: tick {t} not on a whole second");
    }
}

fn draw(input: &[u8]) -> String {
    let svg = tempfile::NamedTempFile::new().unwrap();
    let out = run(&["--svg", svg.path().to_str().unwrap()], input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::read_to_string(svg.path()).unwrap()
}

#[test]
fn the_scripted_day_draws_without_overlaps() {
    check(&draw(Scenario::day().ndjson().as_bytes()), "scripted day");
}

#[test]
fn a_causes_run_draws_without_overlaps() {
    let causes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sandbox-causes.json"),
    )
    .unwrap();
    check(&draw(&causes), "causes run");
}

/// The README's picture is the scripted day as today's code draws it (`COLDMARK_BLESS=1`
/// rewrites it after a change to the drawing).
#[test]
fn the_committed_picture_is_the_scripted_day_drawn_today() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/explain-timeline.svg");
    let drawn = draw(Scenario::day().ndjson().as_bytes());
    if std::env::var_os("COLDMARK_BLESS").is_some() {
        std::fs::write(&path, &drawn).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == drawn,
        "docs/explain-timeline.svg is not what the code draws today: rerun this test with \
         COLDMARK_BLESS=1 and look at the picture"
    );
}
