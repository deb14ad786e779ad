//! The agent scale of a run: how much the agents' slow intervals (idle inbox looks, owner
//! checks, heartbeats) are stretched so that all agents of a run together stay within a share
//! of the metadata budget however many there are. The orchestrator computes it from the
//! agents it plans and its budget, passes it to every agent it launches
//! (`BLOCKORCH_AGENT_SCALE`) and stretches its own silence limit by the same factor, so a
//! slower heartbeat is never taken for a dead agent.

/// Passes the scale to an agent (a positive integer; unset or invalid: 1).
pub const AGENT_SCALE_ENV: &str = "BLOCKORCH_AGENT_SCALE";

/// Metadata operations per second of one idle agent at scale 1 on a shared file system: an
/// inbox `fstat` every 10 s, a `stat` of the next epoch's claim every 30 s, the owner's claim
/// and heartbeat read every 60 s (two opens, about six operations), its own heartbeat every
/// 30 s — 0.29 measured (0.058 per agent at scale 5 on latencyfs, its fsyncs left out),
/// rounded up.
pub const IDLE_OPS_PER_AGENT: f64 = 0.3;

/// The share of the metadata budget all idle agents together may use.
pub const AGENTS_SHARE_OF_BUDGET: f64 = 0.5;

/// The scale for `agents` agents under a budget of `budget` looks per second (0 or less:
/// unbounded, scale 1): the smallest integer that keeps `agents` idle agents within
/// [`AGENTS_SHARE_OF_BUDGET`] of the budget.
pub fn agent_scale(agents: u64, budget: f64) -> u32 {
    if budget.is_nan() || budget <= 0.0 {
        return 1;
    }
    let needed = agents as f64 * IDLE_OPS_PER_AGENT / (budget * AGENTS_SHARE_OF_BUDGET);
    (needed.ceil() as u32).max(1)
}

/// The metadata operations per second that `agents` idle agents at scale `scale` make
/// together (what the orchestrator leaves them of the budget).
pub fn agents_idle_load(agents: u64, scale: u32) -> f64 {
    agents as f64 * IDLE_OPS_PER_AGENT / f64::from(scale.max(1))
}

/// The scale an agent was given in its environment (`value` of [`AGENT_SCALE_ENV`]).
pub fn agent_scale_from(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_agents_stay_within_their_share_of_the_budget() {
        assert_eq!(agent_scale(100, 100.0), 1);
        assert_eq!(agent_scale(166, 100.0), 1);
        assert_eq!(agent_scale(300, 100.0), 2);
        assert_eq!(agent_scale(1000, 100.0), 6);
        assert_eq!(agent_scale(1000, 0.0), 1, "unbounded");
        for agents in [1u64, 10, 333, 334, 1000, 2260, 10_000] {
            for budget in [10.0, 100.0, 1000.0] {
                let scale = agent_scale(agents, budget);
                let load = agents as f64 * IDLE_OPS_PER_AGENT / f64::from(scale);
                assert!(
                    load <= budget * AGENTS_SHARE_OF_BUDGET + 1e-9,
                    "{agents} agents, budget {budget}: scale {scale}, {load} ops/s"
                );
            }
        }
    }

    #[test]
    fn the_environment_gives_a_positive_scale() {
        assert_eq!(agent_scale_from(Some("3")), 3);
        assert_eq!(agent_scale_from(Some("0")), 1);
        assert_eq!(agent_scale_from(Some("x")), 1);
        assert_eq!(agent_scale_from(None), 1);
    }
}
