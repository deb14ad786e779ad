//! A fixed pool of threads that run the filesystem's operations, so that one operation's
//! latency (a sleep) does not hold up the others.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Runs jobs on `size` threads; jobs run concurrently, in no particular order.
pub struct Pool {
    sender: Sender<Job>,
}

impl Pool {
    /// Starts `size` threads (at least one).
    pub fn new(size: usize) -> Self {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..size.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || run(&receiver))
                .expect("starting a latencyfs pool thread");
        }
        Self { sender }
    }

    /// Queues `job` for the next free thread.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        // The threads never exit while the pool lives, so the send cannot fail.
        let _ = self.sender.send(Box::new(job));
    }
}

fn run(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}
