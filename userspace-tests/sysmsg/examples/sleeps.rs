//! Two sleeps and a pipe read in one batch; the replies come in completion order.
use std::{process::Command, process::Stdio, time::Duration};
use sysmsg::{op, Batch, Sysmsg};

fn main() -> std::io::Result<()> {
    let sm = Sysmsg::open()?;
    // A pipe whose writer, a child process, says hello after 0.3 s.
    let sh = ["-c", "sleep 0.3; echo hello"];
    let mut child = Command::new("sh").args(sh).stdout(Stdio::piped()).spawn()?;
    let pipe = child.stdout.take().expect("a piped stdout");

    let ms = Duration::from_millis;
    let mut batch = Batch::new();
    batch.push(op::Nanosleep::new(ms(500)).build().tag(1));
    batch.push(op::Nanosleep::new(ms(100)).build().tag(2));
    batch.push(op::Read::new(&pipe, 64).build().tag(3)); // waits on the pipe, holds no thread
    sm.submit(&mut batch)?;

    for _ in 0..3 {
        let r = sm.wait_one()?; // tag 2, then 3 (with "hello\n"), then 1
        let data = r.data().map(String::from_utf8_lossy);
        println!(
            "tag {} {:?}: {:?} {data:?}",
            r.tag(),
            r.opcode(),
            r.result()
        );
    }
    child.wait()?;
    Ok(())
}
