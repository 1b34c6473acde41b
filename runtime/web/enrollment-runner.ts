/**
 * Enrollment started from the web UI. It runs `linesight enroll --progress
 * json --no-activate` as a child process at low CPU priority (cli-job.ts),
 * so training never blocks the runtime's event loop and the line's scoring
 * comes first; the technician activates the result when satisfied. One
 * enrollment at a time; it can be cancelled.
 */
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../config/device.ts';
import { parseEnrollLine, plannedStages, type EnrollResultLine, type PlannedStage } from '../../product/enrollment-progress.ts';
import { CliJobRunner, type JobState } from './cli-job.ts';

export interface EnrollmentState extends JobState<EnrollResultLine> {
  set: string;
  images: number;
  /** Every stage this enrollment goes through, in order, with the label the pages show. */
  plannedStages: PlannedStage[];
}

export class EnrollmentRunner extends CliJobRunner<EnrollResultLine, EnrollmentState> {
  constructor(
    private readonly config: Pick<DeviceConfig, 'dataDir' | 'enroll' | 'inference'>,
    bin?: string,
    logger?: Logger,
  ) {
    // The device's enroll and inference settings, as the child reads them.
    super({ what: 'enrollment', aWhat: 'an enrollment', config: { dataDir: config.dataDir, enroll: config.enroll, inference: config.inference }, parse: parseEnrollLine, bin, logger });
  }

  /** Starts enrolling `product` from `imagesDir`; refused while another enrollment runs. */
  start(opts: { product: string; set: string; imagesDir: string; images: number }): Promise<EnrollmentState> {
    const args = ['enroll', '--product', opts.product, '--images', opts.imagesDir, '--no-activate', '--data-dir', this.config.dataDir];
    return this.run(args, { set: opts.set, images: opts.images, plannedStages: plannedStages(this.config.enroll) }, opts.product);
  }
}
