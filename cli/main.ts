#!/usr/bin/env -S node --no-memory-reducer
// --no-memory-reducer: V8's memory reducer runs full collections some seconds after
// allocation slows down (after start-up, after a burst of sessions), pausing every
// live session for 10-30 ms (bench/README.md). airlock's JavaScript heap is small
// next to its database and keeps its size instead. `npm start`, the Dockerfile and
// the bench start it the same way.
import { Command, CommanderError, Option } from 'commander';
import { verb } from './context.js';
import { EXIT } from './output.js';
import { VERSION } from '../core/index.js';
import { initVerb, serveVerb, demoVerb, auditVerifyDirect, totpVerb } from './commands/local.js';
import { userAdd, userList, userShow, userAction } from './commands/users.js';
import { loginVerb, logoutVerb, loginRevoke, loginsList, statusVerb, keysRotate, caShow, caRotate } from './commands/session.js';
import { auditVerify, auditTail } from './commands/audit.js';
import { targetAdd, targetList, targetShow, targetUpdate, targetRemove, targetScan } from './commands/targets.js';
import { grantAdd, grantList, grantRevoke, sessionList, sessionShow, sessionTerminate } from './commands/access.js';
import { SENSITIVITIES } from '../approvals/index.js';
import { requestCreate, requestsList, requestShow, requestApprove, requestDeny, requestCancel, requestRevoke } from './commands/requests.js';
import { recordingsList, recordingsShow, recordingsExport, recordingsVerify, recordingsKey, recordingsPrune, recordingsCommands, commandsSearch, recordingsReveal, createRevealKeyVerb } from './commands/recordings.js';
import { ROLES } from '../identity/index.js';

/**
 * The `airlock` command. Every verb is scriptable: secrets from stdin or flags,
 * `--json` output, and exit codes that mean the same thing everywhere
 * (0 ok, 1 error, 2 usage, 3 authentication, 4 forbidden, 5 not found,
 * 6 conflict, 7 verification failed, 8 server unavailable).
 */
export function buildProgram(): Command {
  const program = new Command('airlock')
    .description('airlock: MFA-gated, approved and recorded access for outside engineers')
    .version(VERSION)
    .option('--json', 'machine-readable output')
    .option('--url <url>', 'airlock server for API verbs (default: AIRLOCK_URL, the stored login, or http://127.0.0.1:8080)')
    .option('--config <file>', 'config file (default: AIRLOCK_CONFIG or <data-dir>/airlock.yaml)')
    .option('--data-dir <dir>', 'data directory (default: AIRLOCK_DATA_DIR or ./.airlock)')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('init')
    .description('create the data directory, keys, schema and the first admin (prints its one-time password and TOTP URI)')
    .option('--admin <name>', 'first admin user name', 'admin')
    .option('--email <email>', "the admin's e-mail")
    .option('--password-stdin', "read the admin's password from stdin instead of generating one")
    .action(verb(initVerb));

  program.command('serve').description('run the airlock server').action(verb(serveVerb));

  program
    .command('demo')
    .description('run a throw-away demo (data in ./.airlock-demo): demo users with printed passwords')
    .action(verb(demoVerb));

  const login = program
    .command('login')
    .description('log in with password and verification code; stores the API token in $AIRLOCK_HOME (~/.airlock)')
    .option('--user <name>', 'user name')
    .option('--password-stdin', 'read the password from stdin')
    .option('--totp <code>', 'the current verification code')
    .option('--ttl <duration>', 'how long the login lasts, e.g. 1h (capped by the server)')
    .option('--no-ssh', 'no SSH key and certificate, only the API token')
    .option('--pin-source', 'the certificate works only from the address this login comes from')
    .action(verb(loginVerb));
  login.command('revoke <id>').description('end a login (yours, or anyone\'s as admin)').action(verb(loginRevoke));
  login.command('list').description('live logins (all as admin, else yours)').action(verb(loginsList));

  program.command('logout').description('end the stored login on the server and forget it').action(verb(logoutVerb));
  program.command('status').description('which server, who is logged in, until when').action(verb(statusVerb));

  const user = program.command('user').description('manage users (admin)');
  user
    .command('add <name>')
    .description('add a user; prints the TOTP enrolment URI (and a generated password)')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .option('--org <org>', 'organisation (the MSP)')
    .option('--email <email>', 'e-mail for notifications')
    .option('--password-stdin', 'read the password from stdin instead of generating one')
    .action(verb(userAdd));
  user
    .command('list')
    .description('list users')
    .addOption(new Option('--role <role>').choices([...ROLES]))
    .addOption(new Option('--status <status>').choices(['active', 'disabled']))
    .action(verb(userList));
  user.command('show <name>').description('show a user').action(verb(userShow));
  user.command('disable <name>').description('disable a user and revoke their logins at once').action(verb(userAction('disable')));
  user.command('enable <name>').description('enable a disabled user').action(verb(userAction('enable')));
  user.command('reset-mfa <name>').description('new TOTP secret; the old one stops working').action(verb(userAction('reset-mfa')));
  user.command('unlock <name>').description('clear a lockout after failed logins').action(verb(userAction('unlock')));

  const audit = program.command('audit').description('the hash-chained audit log (admin, auditor)');
  audit
    .command('verify')
    .description('walk the hash chain; names the first row that was changed, removed or moved (exit 7 if broken)')
    .option('--direct', 'read the database directly instead of through the server (server stopped)')
    .action(verb((ctx, o: { direct?: boolean }) => (o.direct ? auditVerifyDirect(ctx) : auditVerify(ctx))));
  audit
    .command('tail')
    .description('recent audit events')
    .option('-n, --lines <n>', 'how many', '20')
    .option('-f, --follow', 'keep printing new events')
    .option('--action <prefix>', 'only actions starting with this, e.g. auth.')
    .action(verb(auditTail));

  const target = program.command('target').description('servers airlock connects to, and the credentials it uses (admin)');
  target
    .command('add <name>')
    .description('add a target; without --host-key, the key the target presents now is pinned (shown for you to compare)')
    .requiredOption('--host <host>', 'host name or address')
    .option('--port <port>', 'SSH port', '22')
    .requiredOption('--login <login>', 'the account airlock logs in as')
    .option('--key-file <file>', 'private key airlock logs in with (never shown to engineers)')
    .option('--password-stdin', 'read the login password from stdin instead')
    .addOption(new Option('--sensitivity <level>').choices([...SENSITIVITIES]).default('standard'))
    .option('--host-key <key>', 'pin this host key ("ssh-ed25519 AAAA…" or a .pub file)')
    .option('--tags <tags>', 'comma-separated tags')
    .option('--description <text>', 'what the server is')
    .action(verb(targetAdd));
  target.command('list').description('list targets (engineers: the ones granted to you)').action(verb(targetList));
  target.command('show <name>').description('show a target').action(verb(targetShow));
  target
    .command('update <name>')
    .description('change a target; with --login and a key or password, add or replace that login\'s credential')
    .option('--host <host>')
    .option('--port <port>')
    .option('--login <login>', 'login whose credential --key-file/--password-stdin sets')
    .option('--key-file <file>')
    .option('--password-stdin')
    .option('--default-login <login>')
    .option('--remove-login <login>')
    .addOption(new Option('--sensitivity <level>').choices([...SENSITIVITIES]))
    .option('--host-key <key>')
    .option('--tags <tags>')
    .option('--description <text>')
    .action(verb(targetUpdate));
  target.command('remove <name>').description('remove a target and its credentials').action(verb(targetRemove));
  target
    .command('scan <name>')
    .description('fetch the host key the target presents and compare it with the pinned one (exit 7 if different)')
    .option('--accept', 'pin the presented key')
    .action(verb(targetScan));

  const grant = program.command('grant').description("engineers' standing access to targets (admin)");
  grant
    .command('add')
    .description('let a user use a target')
    .requiredOption('--user <name>')
    .requiredOption('--target <name>')
    .option('--logins <list>', 'target logins allowed, comma-separated (default: the target\'s default login)')
    .option('--sftp', 'allow file transfer (sftp, scp)')
    .option('--forwarding', 'allow port forwarding')
    .option('--expires-in <duration>', 'e.g. 30d; default: until revoked')
    .action(verb(grantAdd));
  grant
    .command('list')
    .description('live grants (engineers: yours)')
    .option('--user <name>')
    .option('--target <name>')
    .option('--all', 'include revoked and expired')
    .action(verb(grantList));
  grant.command('revoke <id>').description('revoke a grant').action(verb(grantRevoke));

  const session = program.command('session').description('SSH sessions through airlock');
  session
    .command('list')
    .description('recent sessions (engineers: yours)')
    .option('--user <name>')
    .option('--target <name>')
    .option('--active', 'live sessions only')
    .option('--limit <n>')
    .action(verb(sessionList));
  session.command('show <id>').description('one session in full').action(verb(sessionShow));
  session
    .command('terminate <id>')
    .description('end a live session now (admin, approver)')
    .option('--reason <text>')
    .action(verb(sessionTerminate));

  program
    .command('request <target>')
    .description('ask for break-glass access to a sensitive or critical target')
    .option('--login <login>', 'target login (default: the target\'s default)')
    .option('--reason <text>', 'why')
    .option('--ticket <ref>', 'ticket reference, e.g. INC-1234')
    .option('--duration <duration>', 'how long, e.g. 1h (capped by policy)')
    .option('--sftp', 'file transfer needed')
    .option('--forwarding', 'port forwarding needed')
    .option('--wait', 'wait for the decision (exit 0 approved, 4 otherwise)')
    .action(verb(requestCreate));
  const requests = program.command('requests').description('break-glass requests: approvers decide, engineers see theirs');
  requests.command('list').description('requests, newest first').option('--pending', 'pending only').option('--status <status>').action(verb(requestsList));
  requests.command('show <id>').action(verb(requestShow));
  requests
    .command('approve <id>')
    .description('approve (approver/admin; never your own). Narrow with --duration, --no-sftp, --no-forwarding')
    .option('--comment <text>')
    .option('--duration <duration>', 'shorter than asked')
    .option('--no-sftp', 'without file transfer')
    .option('--no-forwarding', 'without port forwarding')
    .action(verb((ctx, id: string, o: { comment?: string; duration?: string; sftp?: boolean; forwarding?: boolean }) =>
      requestApprove(ctx, id, { comment: o.comment, duration: o.duration, noSftp: o.sftp === false, noForwarding: o.forwarding === false }),
    ));
  requests.command('deny <id>').description('deny, saying why').requiredOption('--comment <text>').action(verb(requestDeny));
  requests.command('cancel <id>').description('withdraw your own pending request').action(verb(requestCancel));
  requests.command('revoke <id>').description('end an approved grant now; its sessions end').requiredOption('--comment <text>').action(verb(requestRevoke));

  const recordings = program.command('recordings').alias('recording').description('session recordings (auditors, admins; engineers: their own)');
  recordings
    .command('list')
    .description('recordings, newest first')
    .option('--user <name>')
    .option('--target <name>')
    .option('--session <id>')
    .option('--since <time>', 'ISO time')
    .option('--until <time>', 'ISO time')
    .option('--limit <n>')
    .action(verb(recordingsList));
  recordings.command('show <id>').description("a recording's metadata").action(verb(recordingsShow));
  recordings
    .command('export <id>')
    .description('asciicast v2 (plays in asciinema); --raw: the stored recording byte for byte; --evidence: a tar with the recording, its chain, the key, metadata and a manifest of hashes')
    .option('-o, --output <file>', 'write here instead of stdout (- for stdout)')
    .option('--raw', 'the stored file as it is (the lossless .alr format, see recordings/FORMAT.md)')
    .option('--evidence', 'the evidence bundle')
    .action(verb(recordingsExport));
  recordings
    .command('verify [id]')
    .description('re-hash a recording and check its signed chain; names what changed (exit 7 if not intact)')
    .option('--all', 'every recording')
    .action(verb(recordingsVerify));
  recordings
    .command('commands <id>')
    .description('the commands that ran in a recording, with risk flags (from analysis after the session)')
    .action(verb(recordingsCommands));
  recordings
    .command('search [text]')
    .description('commands across recordings: by text, user, target, time; --risky for flagged ones only')
    .option('--user <name>')
    .option('--target <name>')
    .option('--since <time>', 'ISO time')
    .option('--until <time>', 'ISO time')
    .option('--risky', 'only commands that matched a risk rule')
    .option('--limit <n>')
    .action(verb(commandsSearch));
  recordings
    .command('reveal <id>')
    .description('what was typed without echo (sealed in the recording), decrypted here with the customer\'s reveal key (admin, auditor)')
    .requiredOption('--identity <file>', 'the private reveal key (AGE-SECRET-KEY-1…) from "airlock keys create-reveal-key"')
    .action(verb(recordingsReveal));
  recordings.command('key').description('the recording public key(s), for verifying without airlock').action(verb(recordingsKey));
  recordings.command('prune').description('delete recordings past retention now (the server also does it daily)').action(verb(recordingsPrune));

  const ca = program.command('ca').description("airlock's SSH user certificate authority");
  ca.command('show').description('the CA public keys (for an auditor, or a TrustedUserCAKeys line)').action(verb(caShow));
  ca.command('rotate').description('new signing key; the old one verifies until its certificates expire (admin)').action(verb(caRotate));

  const keys = program.command('keys').description('signing keys (admin)');
  keys.command('rotate').description('new API token signing key').action(verb(keysRotate));
  keys
    .command('create-reveal-key')
    .description("a key pair for sealed input: the private half for the customer's custody, the public half for recordings.revealRecipients")
    .option('-o, --output <file>', 'write the private key to this new file (mode 0600) instead of printing it')
    .action(verb(createRevealKeyVerb));

  program
    .command('totp <secret>')
    .description('print the current verification code for a TOTP secret (demos and testing)')
    .action(verb(totpVerb));

  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      process.exitCode = ok ? EXIT.ok : EXIT.usage;
      return;
    }
    throw err;
  }
}

await main();
