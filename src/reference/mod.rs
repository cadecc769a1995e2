//! What the reference integrations built into the binary share. Each provider's shop lives in
//! its folder (`src/providers/<id>/reference`): shops that do it right (in more than one
//! legitimate style) and shops with the usual mistakes, switchable one by one. `golive demo`
//! runs the bundled suites against them; the tests use them as real targets.

pub mod shop;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

use tokio::net::TcpListener;

use crate::sandbox::ServerTask;

/// What a reference shop is told when it starts: where the provider is and who it is.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The sandbox's base URL.
    pub sandbox_url: String,
    /// The test account (`user_id`, `password`, `client_id`...).
    pub credentials: BTreeMap<String, String>,
    /// One of the shop's compliant styles.
    pub style: String,
    /// Mistakes switched on.
    pub flaws: BTreeSet<String>,
    /// The shop's own base URL (for callback URLs it hands out).
    pub public_url: String,
}

/// One switchable mistake and the checks that must catch it.
#[derive(Debug, Clone, Copy)]
pub struct Flaw {
    pub name: &'static str,
    pub description: &'static str,
    /// Ids of the bundled suite's checks that fail when this flaw is on (and only these).
    pub caught_by: &'static [&'static str],
}

pub type ServeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A provider's reference integration.
pub struct Reference {
    pub provider: &'static str,
    /// Compliant styles; the first is the default.
    pub styles: &'static [&'static str],
    /// What each style does, one line each, in the order of `styles` (for `golive references`;
    /// the module's doc comment says it at length).
    pub style_notes: &'static [&'static str],
    pub flaws: &'static [Flaw],
    /// The target file that drives this shop (its `start` runs `golive reference ...`).
    pub target_yaml: &'static str,
    /// Serves the shop on the listener until the future is dropped.
    pub serve: fn(ShopConfig, TcpListener) -> ServeFuture,
    /// The provider time scale `golive accuracy` and the tests run this shop at: fast enough
    /// to be quick, slow enough for a busy 2-core machine's timers (`None`: the suite's own).
    pub test_time_scale: Option<f64>,
    /// Flaws take the styles in turn (a flaw is caught whatever the legitimate style around
    /// it) instead of all running with the default style.
    pub flaws_alternate_styles: bool,
    /// Checks a compliant style leaves skipped, having nothing to judge: (style, check id).
    pub skipped_when_compliant: &'static [(&'static str, &'static str)],
}

impl Reference {
    /// The reference shop of `provider`: its compliant styles (the first the default) with a
    /// line on each, its flaws, the target file that drives it and how it is served. The rest
    /// is at its default until said: the suite's own time scale, every flaw in the first
    /// style, nothing skipped when compliant.
    pub const fn new(
        provider: &'static str,
        styles: &'static [&'static str],
        style_notes: &'static [&'static str],
        flaws: &'static [Flaw],
        target_yaml: &'static str,
        serve: fn(ShopConfig, TcpListener) -> ServeFuture,
    ) -> Reference {
        Reference {
            provider,
            styles,
            style_notes,
            flaws,
            target_yaml,
            serve,
            test_time_scale: None,
            flaws_alternate_styles: false,
            skipped_when_compliant: &[],
        }
    }

    /// Tests and `golive accuracy` run the shop at this provider time scale.
    pub const fn test_time_scale(mut self, scale: f64) -> Reference {
        self.test_time_scale = Some(scale);
        self
    }

    /// Flaws take the styles in turn.
    pub const fn flaws_alternate_styles(mut self) -> Reference {
        self.flaws_alternate_styles = true;
        self
    }

    /// Checks a compliant style leaves skipped: (style, check id).
    pub const fn skipped_when_compliant(
        mut self,
        skipped: &'static [(&'static str, &'static str)],
    ) -> Reference {
        self.skipped_when_compliant = skipped;
        self
    }

    /// How the shop reads its configuration from the environment when run as a process:
    /// `KONTOCLOUD_BASE_URL`, `KONTOCLOUD_USER_ID`... (the provider's id in capitals), as the
    /// `golive init` starter and `golive sandbox` name them.
    pub fn env_prefix(&self) -> String {
        self.provider.to_ascii_uppercase()
    }

    pub fn flaw(&self, name: &str) -> Option<&'static Flaw> {
        self.flaws.iter().find(|f| f.name == name)
    }

    /// Checks a style and flaw names, saying what exists when they do not.
    pub fn validate(&self, style: &str, flaws: &BTreeSet<String>) -> Result<(), crate::Error> {
        if !self.styles.contains(&style) {
            return Err(crate::Error::Usage(format!(
                "the {} reference shop has no style `{style}`; expected one of: {}",
                self.provider,
                self.styles.join(", ")
            )));
        }
        for f in flaws {
            if self.flaw(f).is_none() {
                return Err(crate::Error::Usage(format!(
                    "the {} reference shop has no flaw `{f}`; expected one of: {}",
                    self.provider,
                    self.flaws
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A reference shop running inside this process.
pub struct RunningShop {
    pub base_url: String,
    task: ServerTask,
}

impl RunningShop {
    /// Starts the shop on a free loopback port.
    pub async fn start(
        reference: &Reference,
        mut config: ShopConfig,
    ) -> std::io::Result<RunningShop> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        config.public_url = base_url.clone();
        let serve = (reference.serve)(config, listener);
        let task = ServerTask::spawn(|stopped| async move {
            tokio::select! {
                _ = serve => {}
                _ = stopped => {}
            }
        });
        Ok(RunningShop { base_url, task })
    }

    pub async fn stop(self) {
        self.task.stop().await;
    }
}

/// Serves an axum app on a listener (what every reference shop's `serve` does).
pub fn serve_app(app: axum::Router, listener: TcpListener) -> ServeFuture {
    Box::pin(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("reference shop stopped: {e}");
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_style_has_its_one_line_note() {
        for r in crate::providers::references() {
            assert_eq!(r.styles.len(), r.style_notes.len(), "{}", r.provider);
            for note in r.style_notes {
                assert!(!note.is_empty() && !note.contains('\n'), "{note}");
            }
        }
    }
}
