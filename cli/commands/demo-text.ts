import { join, resolve } from 'node:path';
import type { DemoCredential, DemoSetup } from '../../server/index.js';
import { cliInvocation } from '../invocation.js';

/**
 * What `airlock demo` prints once it is ready: where everything is, the exact
 * lines to type for each role, and a QR code per user for an authenticator
 * app. Each role gets its own AIRLOCK_HOME so that logging in as olivia does
 * not replace admin's login. The QR codes come first and the instructions
 * last, so the instructions are what a terminal shows after start-up.
 */
export interface DemoText {
  dataDir: string;
  url: string;
  ssh: { host: string; port: number; hostKey: string };
  demo: DemoSetup;
  /** otpauth:// QR codes by user name, drawn for a terminal. */
  qr: Map<string, string>;
  /** Where the demo keeps the reveal key's private half. */
  revealKey: string;
}

export function demoInstructions(d: DemoText): string {
  const { users, server, targets } = d.demo;
  const cmd = 'airlock';
  const user = (name: string) => users.find((c) => c.name === name) as DemoCredential;
  const alice = user('alice');
  const w = Math.max(...users.map((c) => c.name.length));
  const tw = Math.max(...targets.map((t) => t.name.length));
  const home = (name: string) => join(resolve(d.dataDir), 'cli', name);
  const loginLines = (c: DemoCredential) => [
    `    export AIRLOCK_URL=${d.url} AIRLOCK_HOME=${home(c.name)}`,
    `    printf '%s' '${c.password}' | ${cmd} login --user ${c.name} --password-stdin --totp "$(${cmd} totp ${c.totpSecret})"`,
  ];
  const vault = targets.find((t) => t.name === 'vault');
  const approvals = vault?.sensitivity === 'critical' ? 'two different approvers (olivia and oscar) and a ticket such as INC-1' : 'one approver';
  const where =
    server.kind === 'sshd'
      ? `The demo target is THIS machine: a session on it is a real shell here as "${server.login}" (OpenSSH on 127.0.0.1:${server.port}).`
      : `The demo target is a small built-in server on 127.0.0.1:${server.port} (no OpenSSH server here): a shell in a scratch directory.`;
  return [
    ...users.flatMap((c) => [`  ${c.name} (${c.role}): scan into an authenticator app`, indent(d.qr.get(c.name) ?? '', 4)]),
    '',
    '  airlock demo — DEMO MODE: throw-away data, printed passwords. Never use for real access.',
    `  data: ${d.dataDir}    web: ${d.url}    health: ${d.url}/readyz`,
    `  SSH: ${d.ssh.host}:${d.ssh.port}    host key ${d.ssh.hostKey}`,
    '',
    `  ${where}`,
    '  Targets:',
    ...targets.map((t) => `    ${t.name.padEnd(tw)}  ${t.sensitivity.padEnd(9)}  ${t.description ?? ''}`),
    '',
    '  Demo users (user / role / password / TOTP secret):',
    ...users.map((c) => `    ${c.name.padEnd(w)}  ${c.role.padEnd(8)}  ${c.password}  ${c.totpSecret}   ${c.what}`),
    '',
    `  The airlock command, from any directory (or run "npm link" once in the clone):`,
    `    alias ${cmd}='${cliInvocation()}'`,
    '',
    '  1. Connect as the outside engineer alice to the demo target, through airlock:',
    `    ssh -p ${d.ssh.port} alice@demo@${d.ssh.host}`,
    `    Password: ${alice.password}`,
    `    Verification code: from the authenticator app, or: ${cmd} totp ${alice.totpSecret}`,
    `  (or "ssh -p ${d.ssh.port} alice@${d.ssh.host}" for a menu of her targets; sftp -P ${d.ssh.port} alice@demo@${d.ssh.host} works too)`,
    '',
    `  2. Break-glass: "vault" is ${vault?.sensitivity ?? 'sensitive'}: access needs ${approvals}. Connect, give a reason, and wait:`,
    `    ssh -p ${d.ssh.port} alice@vault@${d.ssh.host}`,
    '  then, in another terminal, approve it as olivia:',
    ...loginLines(user('olivia')),
    `    ${cmd} requests list --pending`,
    `    ${cmd} requests approve ID          # the id the SSH session printed (its first 8 characters are enough)`,
    '',
    '  3. As admin (its own AIRLOCK_HOME, so the logins do not replace each other):',
    ...loginLines(user('admin')),
    `    ${cmd} user list;  ${cmd} audit tail;  ${cmd} audit verify`,
    '',
    '  4. As the auditor ada, after a session (recordings are analysed once they end):',
    ...loginLines(user('ada')),
    `    ${cmd} recordings list`,
    `    ${cmd} recordings commands ID         # what ran, with risk flags`,
    `    ${cmd} recordings search --risky      # across sessions; or a text: search 'rm -rf'`,
    `    ${cmd} recordings reveal ID --identity ${d.revealKey}`,
    '                                          # what was typed without echo (a sudo password), sealed to the customer\'s key',
    '',
    '  Stop with Ctrl-C. Delete the data directory to start over.',
    '',
  ].join('\n');
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => pad + l)
    .join('\n');
}
