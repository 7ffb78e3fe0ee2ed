import { Command, CommanderError } from 'commander';
import { toGatehouseError } from '../core/errors.js';
import type { CliIo } from './output.js';
import { registerInitCommands } from './commands/init.js';
import { registerTargetCommands } from './commands/target.js';
import { registerGrantCommands } from './commands/grant.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerUserCommands } from './commands/user.js';
import { registerCredentialCommands } from './commands/credential.js';
import { registerGatewayCommands } from './commands/gateway.js';
import { registerSessionCommands } from './commands/sessions.js';
import { registerCaCommand } from './commands/ca.js';

/** Builds the `gatehouse` command tree. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('gatehouse')
    .description('Access bastion: SSH, PostgreSQL and MySQL with leased credentials')
    .option(
      '--config <file>',
      'configuration file (default $GATEHOUSE_CONFIG, then ./gatehouse.yaml)',
    )
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError();
  registerInitCommands(program, io);
  registerUserCommands(program, io);
  registerTargetCommands(program, io);
  registerGrantCommands(program, io);
  registerCredentialCommands(program, io);
  registerGatewayCommands(program, io);
  registerSessionCommands(program, io);
  registerAuditCommands(program, io);
  registerCaCommand(program, io);
  return program;
}

/** Runs the CLI and returns the process exit code (0 ok, 1 error, 2 usage). */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    reportError(io, err);
    return 1;
  }
}

function reportError(io: CliIo, err: unknown): void {
  const error = toGatehouseError(err);
  io.stderr.write(`gatehouse: error: ${error.message}\n`);
  if (error.hint !== undefined) io.stderr.write(`hint: ${error.hint}\n`);
  // The CLI is the operator's own tool: show the private detail too (never secrets by design).
  if (error.detail !== undefined) io.stderr.write(`detail: ${error.detail}\n`);
  if (process.env['GATEHOUSE_DEBUG'] === '1' && err instanceof Error)
    io.stderr.write(`${err.stack ?? ''}\n`);
}

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}
