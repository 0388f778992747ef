//! `pos-lottery simulate`: bots that play validators over real TCP.

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {}

pub async fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
