"""Self-test of the LSF simulator: `python3 -m unittest discover cluster-tests/lsf-sim/tests`.

Each test gets its own state directory and a fast clock (a simulated minute lasts 0.5 s)."""

import os
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
FORMAT = "jobid jobindex stat exit_code exec_host exit_reason delimiter='^'"


class Sim(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.env = dict(os.environ)
        self.env.update(
            PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
            BLOCKORCH_LSF_SIM_DIR=os.path.join(self.tmp.name, "state"),
            BLOCKORCH_LSF_SIM_PYTHON=sys.executable,
            BLOCKORCH_LSF_SIM_MINUTE_SECONDS="0.5",
            BLOCKORCH_LSF_SIM_TERMINATE_INTERVAL="0.5",
            BLOCKORCH_LSF_SIM_RUNLIMIT_KILL_MINUTES="1",
        )

    def tearDown(self):
        self.run_sim("lsf-sim", "kill-all")
        self.tmp.cleanup()

    def run_sim(self, program, *args, stdin=None):
        return subprocess.run(
            [os.path.join(BIN, program), *args], input=stdin, env=self.env,
            capture_output=True, text=True, timeout=30,
        )

    def submit(self, script, *args):
        out = self.run_sim("bsub", *args, stdin=script)
        self.assertEqual(out.returncode, 0, out.stderr)
        return int(out.stdout.rsplit("Job <", 1)[1].split(">")[0])

    def rows(self, *ids):
        out = self.run_sim("bjobs", "-a", "-noheader", "-o", FORMAT, *[str(i) for i in ids])
        return [line.split("^") for line in out.stdout.splitlines()], out

    def wait_finished(self, job_id, seconds=15):
        out = self.run_sim("lsf-sim", "wait", str(job_id), str(seconds))
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_array_with_running_limit_and_exit_codes(self):
        log = os.path.join(self.tmp.name, "log")
        job = self.submit(
            '#BSUB -J "a[1-4]%%2"\n#BSUB -o %s/%%J_%%I.out\n'
            'echo "$LSB_JOBID $LSB_JOBINDEX $LSB_JOBNAME"\nsleep 0.3\n'
            '[ "$LSB_JOBINDEX" = 3 ] && exit 3\nexit 0\n' % log
        )
        rows, _ = self.rows(job)
        self.assertEqual(sum(1 for r in rows if r[2] == "RUN"), 2)
        self.wait_finished(job)
        rows, _ = self.rows(job)
        self.assertEqual([r[1] for r in rows], ["1", "2", "3", "4"])
        self.assertEqual([r[2] for r in rows], ["DONE", "DONE", "EXIT", "DONE"])
        self.assertEqual(rows[2][3], "3")
        self.assertEqual(rows[0][3], "-")
        with open(os.path.join(log, "%d_3.out" % job)) as f:
            text = f.read()
        self.assertTrue(text.startswith("%d 3 a[3]\n" % job), text)
        self.assertIn("Exited with exit code 3.", text)

    def test_replies_and_not_found(self):
        out = self.run_sim("bsub", "-q", "short", "-P", "lab", "true")
        self.assertRegex(out.stdout, r"^Job is submitted to <lab> project\.\nJob <\d+> is submitted to queue <short>\.\n$")
        out = self.run_sim("bsub", "true")
        self.assertRegex(out.stdout, r"^Job <\d+> is submitted to default queue <normal>\.\n$")
        out = self.run_sim("bsub", "-q", "nosuch", "true")
        self.assertEqual((out.returncode, out.stderr), (255, "nosuch: No such queue. Job not submitted.\n"))
        rows, out = self.rows(424242)
        self.assertEqual((rows, out.stderr, out.returncode), ([], "Job <424242> is not found\n", 255))

    def test_run_limit_warning_and_bkill(self):
        marker = os.path.join(self.tmp.name, "warned")
        job = self.submit(
            "#BSUB -W 2\n#BSUB -wa TERM\n#BSUB -wt 1\n"
            "trap 'touch %s' TERM\nwhile true; do sleep 0.05; done\n" % marker
        )
        self.wait_finished(job)
        rows, _ = self.rows(job)
        self.assertEqual(rows[0][2:4], ["EXIT", "140"])
        self.assertTrue(rows[0][5].startswith("TERM_RUNLIMIT: "), rows)
        self.assertTrue(os.path.exists(marker))
        job = self.submit("sleep 30\n", "-J", "k[1-2]")
        time.sleep(0.3)
        out = self.run_sim("bkill", "%d[1]" % job)
        self.assertEqual(out.stdout, "Job <%d[1]> is being terminated\n" % job)
        self.run_sim("bkill", str(job))
        self.wait_finished(job)
        rows, _ = self.rows(job)
        self.assertTrue(all(r[5].startswith("TERM_OWNER") for r in rows), rows)
        out = self.run_sim("bkill", str(job))
        self.assertEqual(out.stderr, "Job <%d>: Job has already finished\n" % job)

    def test_lost_host_and_forced_exit(self):
        job = self.submit("sleep 30\n")
        time.sleep(0.3)
        host = self.run_sim("lsf-sim", "lose-host-of", str(job)).stdout.strip()
        rows, _ = self.rows(job)
        self.assertEqual(rows[0][2], "UNKWN")
        self.run_sim("lsf-sim", "force-exit", str(job), "TERM_HOST")
        self.run_sim("lsf-sim", "host-back", host)
        self.wait_finished(job)
        rows, _ = self.rows(job)
        self.assertEqual(rows[0][2], "EXIT")
        self.assertTrue(rows[0][5].startswith("TERM_HOST: "), rows)


if __name__ == "__main__":
    unittest.main()
