//! The task file's `backend`, `setup` lines, `container_prefix`, `max_running` and `requeue`
//! through `submit --dry-run`, user defaults (config file, `BLOCKORCH_*` variables) with their
//! precedence (command line > task file > environment > config file), the warning about
//! another backend's section, and bad defaults refused before anything is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GEOMETRY: &str = r#""name": "a", "total_roi": {"offset": [0], "shape": [100]},
    "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
    "num_workers": 3, "worker": {"command": ["python3", "w.py"]}"#;

/// A directory with `task.json` made of the geometry and `fields`, an empty config home and a
/// PATH whose scheduler commands fail and record that they ran.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(fields: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{{{GEOMETRY}{}{fields}}}",
            if fields.is_empty() { "" } else { ", " }
        );
        std::fs::write(dir.path().join("task.json"), text).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for cmd in [
            "sbatch", "squeue", "sacct", "scontrol", "bsub", "bjobs", "bparams",
        ] {
            let path = bin.join(cmd);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho {cmd} >> {}/calls\nexit 1\n",
                    dir.path().display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        std::fs::create_dir_all(dir.path().join("config/blockorch")).unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, text: &str) {
        std::fs::write(self.path("config/blockorch/config.json"), text).unwrap();
    }

    /// `blockorch submit task.json <args>` with only `env` of the BLOCKORCH_* variables.
    fn submit(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_blockorch"));
        command
            .arg("submit")
            .args(args)
            .arg(self.path("task.json"))
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env_remove("SLURM_JOB_ID")
            .env_remove("BLOCKORCH_CONFIG");
        for (name, _) in std::env::vars() {
            if name.starts_with("BLOCKORCH_SLURM_") || name.starts_with("BLOCKORCH_LSF_") {
                command.env_remove(name);
            }
        }
        command
            .env_remove("BLOCKORCH_BACKEND")
            .envs(env.iter().copied());
        let out = command.output().unwrap();
        assert!(!self.path("calls").exists(), "a scheduler command ran");
        out
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every path under `dir`, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir);
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            let mut below = if path.is_dir() { walk(&path) } else { vec![] };
            below.push(path);
            below
        })
        .collect()
}

const CLUSTER_SECTIONS: &str = r#""backend": "slurm",
    "slurm": {"setup": ["export MARK=slurm", "module load cuda/12 || true"],
              "container_prefix": ["./wrap.sh", "--nv", "my image.sif"],
              "max_running": 2, "requeue": true},
    "lsf": {"setup": ["export MARK=lsf"], "container_prefix": ["./wrap.sh"],
            "max_running": 2, "requeue": true}"#;

#[test]
fn the_task_files_backend_setup_lines_prefix_throttle_and_requeue_show_in_the_dry_run() {
    let setup = Setup::new(CLUSTER_SECTIONS);
    let out = setup.submit(&["--dry-run"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --requeue",
        "set +u\nexport MARK=slurm\nmodule load cuda/12 || true\nset -u\n",
        "    --command-prefix=./wrap.sh \\\n    --command-prefix=--nv \\\n    --command-prefix='my image.sif' \\\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing in\n{stdout}");
    }
    assert!(!stdout.contains("--no-requeue"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("task \"a\": its \"lsf\" section is ignored: the backend is slurm"),
        "{stderr}"
    );

    // --backend overrides the task file's backend.
    let out = setup.submit(&["--dry-run", "--backend", "lsf"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in [
        "[1-3]%2",
        "#BSUB -r\n",
        "set +u\nexport MARK=lsf\nset -u\n",
        "--command-prefix=./wrap.sh \\\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing in\n{stdout}");
    }
    assert!(
        !stdout.contains("#SBATCH") && !stdout.contains("MARK=slurm"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("its \"slurm\" section is ignored: the backend is lsf"));
}

#[test]
fn command_line_beats_task_file_beats_environment_beats_config_file() {
    let setup = Setup::new(r#""slurm": {"partition": "file"}"#);
    setup.config(
        r#"{"backend": "slurm",
            "slurm": {"partition": "conf", "account": "conf", "constraint": "conf",
                      "setup": ["export FROM=conf"]}}"#,
    );
    let env = [
        ("BLOCKORCH_SLURM_PARTITION", "env"),
        ("BLOCKORCH_SLURM_ACCOUNT", "env"),
        ("BLOCKORCH_SLURM_SETUP", r#"["export FROM=env"]"#),
    ];
    // The config file names the backend; the task file's partition wins over both defaults,
    // the environment's account and setup over the config file's.
    let out = setup.submit(&["--dry-run"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in [
        "#SBATCH --partition=file\n",
        "#SBATCH --account=env\n",
        "#SBATCH --constraint=conf\n",
        "export FROM=env\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing in\n{stdout}");
    }
    assert!(!stdout.contains("FROM=conf"), "{stdout}");
    // BLOCKORCH_BACKEND beats the config file's backend, --backend beats both.
    let lsf = [("BLOCKORCH_BACKEND", "lsf")];
    let out = setup.submit(&["--dry-run"], &lsf);
    assert!(
        text(&out.stdout).contains("#BSUB -J"),
        "{}",
        text(&out.stdout)
    );
    let out = setup.submit(&["--dry-run", "--backend", "slurm"], &lsf);
    assert!(text(&out.stdout).contains("#SBATCH --partition=file"));
    // The task file's backend beats the environment's.
    let named = Setup::new(r#""backend": "lsf""#);
    let out = named.submit(&["--dry-run"], &[("BLOCKORCH_BACKEND", "slurm")]);
    assert!(
        text(&out.stdout).contains("#BSUB -J"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_defaults_are_refused_with_their_source_and_field_and_nothing_is_written() {
    let setup = Setup::new("");
    let before = tree(setup.dir.path());
    let out = setup.submit(&["--backend", "local"], &[("BLOCKORCH_SLURM_TIME", "2h")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: environment variable BLOCKORCH_SLURM_TIME: invalid value \"2h\": \"h\" is not \
         allowed; a SLURM time limit is MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. \
         \"02:00:00\" or \"1-12\")"
    );
    let out = setup.submit(&[], &[("BLOCKORCH_BACKEND", "slrum")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(
        "environment variable BLOCKORCH_BACKEND: unknown backend \"slrum\"; did you mean \"slurm\"? \
         backend is one of \"local\", \"slurm\", \"lsf\""
    ));
    assert_eq!(
        tree(setup.dir.path()),
        before,
        "a refused run wrote something"
    );

    setup.config(r#"{"slurm": {"setup": ["module load a\nmodule load b"]}}"#);
    let before = tree(setup.dir.path());
    let out = setup.submit(&["--backend", "local"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let config = setup.path("config/blockorch/config.json");
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "error: {}: slurm.setup[0]: invalid value \"module load a\\nmodule load b\": a newline \
             is not allowed; a setup line is one shell line (write several lines as several list \
             entries)",
            config.display()
        )
    );
    setup.config(r#"{"slurm": {"partiton": "gpu"}}"#);
    let out = setup.submit(&["--backend", "local"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!(
            "{}: slurm.partiton: unknown field",
            config.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        tree(setup.dir.path()),
        before,
        "a refused run wrote something"
    );
}

#[test]
fn a_dry_run_with_detach_shows_the_orchestrators_job_with_its_resources() {
    let setup = Setup::new(
        r#""backend": "slurm", "slurm": {"account": "lab", "partition": "gpu",
           "orchestrator": {"time": "7-00:00:00", "partition": "cpu", "mem": "2G"}}"#,
    );
    let before = tree(setup.dir.path());
    let out = setup.submit(&["--dry-run", "--detach"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (orchestrator, workers) = stdout
        .split_once("# the orchestrator's job:\n")
        .map(|(_, rest)| rest.split_once("# task a:").unwrap())
        .unwrap_or_else(|| panic!("no orchestrator job in\n{stdout}"));
    for line in [
        "#SBATCH --account=lab\n",
        "#SBATCH --partition=cpu\n",
        "#SBATCH --time=7-00:00:00\n",
        "#SBATCH --mem=2G\n",
        "--slurm-mode submit",
    ] {
        assert!(
            orchestrator.contains(line),
            "{line:?} missing in\n{orchestrator}"
        );
    }
    let exec = orchestrator
        .lines()
        .find(|l| l.starts_with("exec "))
        .unwrap();
    assert!(
        !exec.contains("--detach") && !exec.contains("--dry-run"),
        "{exec}"
    );
    assert!(workers.contains("#SBATCH --partition=gpu\n"), "{workers}");
    assert_eq!(
        tree(setup.dir.path()),
        before,
        "the dry run wrote something"
    );
}
