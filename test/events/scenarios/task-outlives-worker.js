'use strict';
// A native task thread that outlives its Worker: the Worker starts touch() on a page of the main
// thread's registered mapping and is terminated while that thread sleeps in the fault; only then
// does the main thread resolve the fault. The woken thread finishes its work after its
// environment (and the thread-safe function that would settle its promise) is gone, so it must
// not call into that function: Node frees it at teardown whatever the thread holds (native/
// task.h). It did (a freed mutex: SIGABRT, or silent heap corruption). Exit code 0, no crash.
const { u, main, worker, nextMessage, until, userfaultSleepers } = require('./common');
const fs = require('fs');

/** Threads of this process named uffd-task (task.h names them so). */
function taskThreads() {
  return fs.readdirSync('/proc/self/task').filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'uffd-task';
    } catch {
      return false; // exited meanwhile
    }
  });
}

main(async () => {
  const ps = u.pageSize;
  const uffd = u.Userfaultfd.open();
  const m = u.Mapping.anonymous(ps);
  uffd.register(m.address, ps);
  const it = uffd.events();
  const w = worker(
    (u, { addr, len }, port) => {
      u.touch(addr, len); // not awaited: the Worker is terminated before it settles
      port.postMessage({ started: true });
    },
    { addr: m.address, len: ps },
  );
  await nextMessage(w);
  const ev = (await it.next()).value;
  await until(() => userfaultSleepers().length === 1, "the Worker's task thread to sleep");
  const exitCode = await w.terminate();
  const tasksAfterExit = taskThreads().length; // still there: it outlived its environment
  uffd.zeropage(ev.address, ps); // wakes it: it finishes with no environment to settle in
  await until(() => taskThreads().length === 0, 'the task thread to end');
  await it.return();
  uffd.close();
  m.unmap();
  return { exitCode, tasksAfterExit, tasksAtEnd: taskThreads().length };
});
