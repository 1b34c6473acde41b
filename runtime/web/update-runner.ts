/**
 * A product update started from the Review page: `linesight update --records
 * --progress json` as a child process at low CPU priority (cli-job.ts) — the
 * same code path as the command — builds a new version from the active one
 * and the product's reviewed records and replays every reviewed record on
 * both. The new version is not activated: the operator activates it (the
 * same verification as `linesight activate`) or discards it, which deletes
 * it. One update at a time; it can be cancelled.
 */
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../config/device.ts';
import { parseUpdateLine, UPDATE_STAGES, type UpdateResultLine } from '../../product/update-progress.ts';
import { discardProductVersion, ProductVersionError } from '../../product/versions.ts';
import { CliJobRunner, type JobState } from './cli-job.ts';
import { ApiError } from './http-util.ts';

export interface UpdateState extends JobState<UpdateResultLine> {
  /** Every stage of the update, in order, with the label the page shows. */
  plannedStages: { id: string; label: string }[];
  /** Set when the operator discarded the new version (it was deleted). */
  discarded: boolean;
}

export class UpdateRunner extends CliJobRunner<UpdateResultLine, UpdateState> {
  constructor(
    private readonly config: Pick<DeviceConfig, 'dataDir' | 'inference'>,
    bin?: string,
    logger?: Logger,
  ) {
    super({ what: 'product update', aWhat: 'a product update', config: { dataDir: config.dataDir, inference: config.inference }, parse: parseUpdateLine, bin, logger });
  }

  /** Starts updating `product` from its reviewed records; refused while another update runs. */
  start(product: string): Promise<UpdateState> {
    const args = ['update', '--product', product, '--records', '--data-dir', this.config.dataDir];
    return this.run(args, { plannedStages: UPDATE_STAGES.map(({ id, label }) => ({ id, label })), discarded: false }, product);
  }

  /** Deletes the finished update's new version (never an active one). */
  async discard(): Promise<UpdateState> {
    const s = this.snapshot();
    if (!s || s.state !== 'done' || !s.result) throw new ApiError(409, 'there is no finished product update to discard');
    if (s.discarded) throw new ApiError(409, `${s.result.version} of ${s.product} was already discarded`);
    try {
      await discardProductVersion(this.config.dataDir, s.product, s.result.version);
    } catch (err) {
      if (err instanceof ProductVersionError) throw new ApiError(409, err.message);
      throw err;
    }
    this.patch(s.id, { discarded: true });
    return this.snapshot()!;
  }
}
