// The test thread's CPU time as a clock.
//
// A test that asks whether some work blocks the event loop must not fail because the machine
// is busy with other work: in wall time, every tick of the loop is late while the OS runs
// other processes; in this thread's CPU time, the clock stands still meanwhile and moves only
// while this thread runs (its own JavaScript, its garbage collection), which is what blocks it.

/** This thread's CPU time (user and system), in milliseconds. */
export function threadCpuMs(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Blocks the event loop until this thread has spent `ms` of CPU time, however loaded the machine. */
export function busyCpu(ms: number): void {
  const end = threadCpuMs() + ms;
  while (threadCpuMs() < end) {
    // block the event loop
  }
}
