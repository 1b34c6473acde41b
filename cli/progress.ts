/**
 * Progress for long CLI jobs: a bar with ETA per stage on a terminal, plain
 * log lines (stage changes and every 25 %) when output goes to a file or journal.
 */
import cliProgress from 'cli-progress';

export interface ProgressReporter {
  update(stage: string, done: number, total: number): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stream.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let current = '';
    return {
      update(stage, done, total) {
        if (stage !== current) {
          bar?.stop();
          current = stage;
          bar = new cliProgress.SingleBar(
            { format: `${stage.padEnd(10)} [{bar}] {value}/{total} | ETA {eta_formatted}`, stream, hideCursor: true, etaBuffer: 20 },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, done);
        }
        bar?.setTotal(total);
        bar?.update(done);
      },
      stop() {
        bar?.stop();
      },
    };
  }
  let current = '';
  let lastQuarter = -1;
  return {
    update(stage, done, total) {
      const quarter = Math.floor((4 * done) / Math.max(1, total));
      if (stage !== current || quarter !== lastQuarter) {
        current = stage;
        lastQuarter = quarter;
        stream.write(`${stage}: ${done}/${total}\n`);
      }
    },
    stop() {},
  };
}
