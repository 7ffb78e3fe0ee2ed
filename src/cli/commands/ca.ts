import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { certificateFingerprint } from '../../tls/certificates.js';
import { configFromCommand } from '../context.js';
import type { CliIo } from '../output.js';

/** `gatehouse ca`: the CA certificate clients verify the gateway with (psql sslmode=verify-full). */
export function registerCaCommand(program: Command, io: CliIo): void {
  program
    .command('ca')
    .description(
      "print the CA certificate that signed the gateway's TLS certificate (for sslrootcert / --ssl-ca)",
    )
    .option('--path', 'print only the path of the CA file', false)
    .action((o: { path: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const path = config.tls.caCert;
      if (o.path) {
        io.stdout.write(`${path}\n`);
        return;
      }
      const pem = readFileSync(path, 'utf8');
      io.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
      io.stderr.write(
        `# ${path}\n# SHA-256 fingerprint ${certificateFingerprint(pem)}\n# psql "host=… sslmode=verify-full sslrootcert=${path}"\n`,
      );
    });
}
