// SPDX-License-Identifier: GPL-2.0

//! Per-process state: what sysmsg keeps for each thread group that uses it.
//!
//! A *process* is a thread group, identified by its global tgid. Its state is shared by all of
//! its threads and by every sysmsg file it uses, so that what belongs to the process (its limits,
//! from the limits issue on) is not multiplied by opening the device twice. The [`Registry`] maps
//! tgids to [`Process`] objects and counts the users of each; the entry goes away with its last
//! user.

use kernel::{
    bindings, new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
    task::{Pid, Task},
};

/// The thread group id of the calling task in the initial pid namespace.
///
/// This goes through the C helper rather than reading `task_struct` fields from Rust: on the
/// 7.2 debug kernel `Task::pid()` and `Task::group_leader()` read the wrong offsets (seen in
/// KUnit: a kthread whose group leader was not itself, and a "pid" that was half a text address).
pub(crate) fn current_tgid() -> Pid {
    // SAFETY: `current` is a live task for the duration of the call; `init_pid_ns` is a static
    // the helper only reads.
    unsafe {
        bindings::__task_pid_nr_ns(
            Task::current_raw(),
            bindings::pid_type_PIDTYPE_TGID,
            &raw mut bindings::init_pid_ns,
        )
    }
}

/// The state of one thread group using sysmsg.
pub(crate) struct Process {
    /// The thread group id, in the initial pid namespace.
    tgid: Pid,
}

impl Process {
    /// The thread group id, in the initial pid namespace.
    pub(crate) fn tgid(&self) -> Pid {
        self.tgid
    }
}

/// A registered process and how many users (open files, at the moment) hold it.
struct Entry {
    process: Arc<Process>,
    users: usize,
}

/// The lock-protected part of a [`Registry`].
struct RegistryInner {
    by_tgid: RBTree<Pid, Entry>,
}

/// All processes using sysmsg, by tgid.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    inner: Mutex<RegistryInner>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_mutex!(RegistryInner { by_tgid: RBTree::new() }, "sysmsg::Registry"),
        })
    }

    /// Takes a reference on the process `tgid`, creating its state on first use.
    pub(crate) fn get(&self, tgid: Pid) -> Result<Arc<Process>> {
        // Allocate before taking the lock; unused if the process is already known.
        let fresh = Arc::new(Process { tgid }, GFP_KERNEL)?;
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.by_tgid.get_mut(&tgid) {
            entry.users += 1;
            return Ok(entry.process.clone());
        }
        let node = reservation.into_node(
            tgid,
            Entry {
                process: fresh.clone(),
                users: 1,
            },
        );
        inner.by_tgid.insert(node);
        Ok(fresh)
    }

    /// Drops a reference taken by [`Registry::get`]; the last one removes the process.
    pub(crate) fn put(&self, process: &Process) {
        let removed = {
            let mut inner = self.inner.lock();
            match inner.by_tgid.get_mut(&process.tgid) {
                Some(entry) if entry.users > 1 => {
                    entry.users -= 1;
                    None
                }
                Some(_) => inner.by_tgid.remove_node(&process.tgid),
                None => None,
            }
        };
        // The node and its `Arc` are freed here, outside the lock.
        drop(removed);
    }

    /// The number of registered processes.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().by_tgid.iter().count()
    }
}

#[kunit_tests(sysmsg_process)]
mod tests {
    use super::*;
    use kernel::sync::Arc;

    fn registry() -> Result<Pin<KBox<Registry>>> {
        KBox::pin_init(Registry::new(), GFP_KERNEL)
    }

    /// One process, however many times it is looked up, has one state object.
    #[test]
    fn same_tgid_same_state() -> Result {
        let r = registry()?;
        let a = r.get(100)?;
        let b = r.get(100)?;
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.tgid(), 100);
        assert_eq!(r.len(), 1);
        Ok(())
    }

    /// Different thread groups never share state.
    #[test]
    fn different_tgids_differ() -> Result {
        let r = registry()?;
        let a = r.get(100)?;
        let b = r.get(200)?;
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(r.len(), 2);
        Ok(())
    }

    /// The key of a process is its tgid as the kernel's own pid helpers see it.
    #[test]
    fn current_tgid_is_the_kernels() {
        let task = kernel::current!();
        assert_eq!(current_tgid(), task.tgid_nr_ns(None));
        assert!(current_tgid() > 0);
    }

    /// The state lives until its last user puts it, and is new after that.
    #[test]
    fn last_put_removes() -> Result {
        let r = registry()?;
        let a = r.get(7)?;
        let b = r.get(7)?;
        r.put(&a);
        assert_eq!(r.len(), 1);
        r.put(&b);
        assert_eq!(r.len(), 0);
        let c = r.get(7)?;
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(r.len(), 1);
        Ok(())
    }
}
