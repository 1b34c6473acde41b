/**
 * The `linesight` command: enroll, score, eval, run, capture, the product
 * version commands and the plant signing key (keys, publish), one file each
 * under cli/commands/. Flags and config files are validated up front; a
 * known failure prints one clear line and exits with status 1, without a
 * stack trace.
 */
import { Command } from 'commander';
import { ConfigError } from '../config/errors.ts';
import { ArtifactError } from '../product/artifact.ts';
import { BundleError } from '../product/bundle.ts';
import { ImageReadError } from '../product/image-io.ts';
import { SigningError } from '../product/signing.ts';
import { ProductVersionError } from '../product/versions.ts';
import { CaptureError } from '../runtime/capture/golden-capture.ts';
import { HealthServerError } from '../runtime/health-server.ts';
import { EmbeddedBrokerError } from '../runtime/mqtt/embedded-broker.ts';
import { OutboxError } from '../runtime/mqtt/outbox.ts';
import { PublisherError } from '../runtime/mqtt/publisher.ts';
import { EnrollError } from '../trainer/golden-samples.ts';
import { addActivateCommand } from './commands/activate.ts';
import { addCaptureCommand } from './commands/capture.ts';
import { addEnrollCommand } from './commands/enroll.ts';
import { addEvalCommand } from './commands/eval.ts';
import { addKeysCommand } from './commands/keys.ts';
import { addProductsCommand } from './commands/products.ts';
import { addPublishCommand } from './commands/publish.ts';
import { addRecordsCommand } from './commands/records.ts';
import { addReviewCommand } from './commands/review.ts';
import { addRollbackCommand } from './commands/rollback.ts';
import { addPruneCommand } from './commands/prune.ts';
import { addRunCommand } from './commands/run.ts';
import { addScoreCommand } from './commands/score.ts';
import { addUpdateCommand } from './commands/update.ts';
import { addVersionsCommand } from './commands/versions.ts';

export function buildCli(): Command {
  const program = new Command('linesight')
    .description('Edge runtime for smart cameras on conveyor lines')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });
  for (const add of [addEnrollCommand, addScoreCommand, addEvalCommand, addRunCommand, addCaptureCommand, addProductsCommand, addVersionsCommand, addUpdateCommand, addActivateCommand, addRollbackCommand, addPruneCommand, addRecordsCommand, addReviewCommand, addKeysCommand, addPublishCommand]) add(program);
  return program;
}

/** Failures a technician can act on: one line, exit status 1. Anything else is a bug and keeps its stack trace. */
const knownErrors = [ConfigError, EnrollError, ArtifactError, ImageReadError, EmbeddedBrokerError, HealthServerError, PublisherError, OutboxError, CaptureError, ProductVersionError, SigningError, BundleError];

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (knownErrors.some((E) => err instanceof E)) {
      console.error(`linesight: ${(err as Error).message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

await main();
