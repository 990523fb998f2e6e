//! The initial-sync progress bar of `cairn-node` on a terminal.

use std::io::Write;
use std::time::Duration;

use cairn_node::sync::SyncHandle;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar that stays hidden until sync has blocks to fetch.
pub(crate) fn sync_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    let style = ProgressStyle::with_template(
        "syncing {bar:40.cyan/blue} {pos}/{len} blocks ({percent}%)  {per_sec}  ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Follows the sync status: shows the bar while behind, hides it once caught up.
pub(crate) async fn drive(bar: ProgressBar, sync: SyncHandle) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut shown = false;
    loop {
        tick.tick().await;
        let s = sync.status();
        let behind = s.syncing && s.target > s.height;
        if behind {
            if !shown {
                bar.reset();
                bar.set_draw_target(ProgressDrawTarget::stderr());
                shown = true;
            }
            bar.set_length(s.target);
            bar.set_position(s.height);
        } else if shown {
            bar.set_position(s.height);
            bar.println(format!("synced to height {}", s.height));
            bar.set_draw_target(ProgressDrawTarget::hidden());
            shown = false;
        }
    }
}

/// Log output that draws around the bar instead of through it.
#[derive(Clone, Debug)]
pub(crate) struct BarWriter(pub(crate) ProgressBar);

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stdout().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BarWriter {
    type Writer = BarWriter;

    fn make_writer(&'a self) -> BarWriter {
        self.clone()
    }
}
