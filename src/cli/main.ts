#!/usr/bin/env node
/**
 * The `socketeer` command: `socketeer connect <url>` and `socketeer serve`.
 *
 * Exit codes: 0 success, 1 runtime failure (connection refused, abnormal close, port in use),
 * 2 usage error (unknown flag, bad URL, bad port).
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UsageError } from "./args.js";
import { runConnect } from "./connect.js";
import { type CliIo, Style, shouldColor } from "./format.js";
import { runServe } from "./serve.js";

/** Help text for `socketeer` with no command. */
export const mainHelp = `Usage: socketeer <command> [options]

A WebSocket client and server for the terminal.

Commands:
  connect <url>   open a connection; send lines, print what arrives
  serve           run an echo/broadcast server (optionally with static files)

Options:
  -h, --help      show help (also: socketeer <command> --help)
  -V, --version   print the version

Examples:
  socketeer serve --port 9000
  socketeer connect ws://localhost:9000
  echo hello | socketeer connect ws://localhost:9000 --wait 1
`;

/** The package version, found by walking up to socketeer's package.json (works from src/ and dist/). */
function version(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "socketeer" && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return "unknown";
}

/**
 * Runs the CLI with `argv` (arguments after the script name) and resolves with the exit code.
 * Usage errors are printed here, with a pointer to the right `--help`.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const errStyle = new Style(shouldColor(io.stderr, io.env));
  try {
    switch (command) {
      case undefined:
        io.stderr.write(mainHelp);
        return 2;
      case "-h":
      case "--help":
      case "help":
        io.stdout.write(mainHelp);
        return 0;
      case "-V":
      case "--version":
        io.stdout.write(`socketeer ${version()}\n`);
        return 0;
      case "connect":
        return await runConnect(rest, io);
      case "serve":
        return await runServe(rest, io);
      default:
        throw new UsageError(
          command.startsWith("-") ? `unknown option ${command}` : `unknown command "${command}"`,
        );
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const scope = command === "connect" || command === "serve" ? ` ${command}` : "";
    io.stderr.write(`${errStyle.red(`socketeer${scope}: ${err.message}`)}\n`);
    io.stderr.write(`Run "socketeer${scope} --help" for usage.\n`);
    return 2;
  }
}

if (require.main === module) {
  // A reader that goes away (`| head -1`) is not an error worth a stack trace.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  main(process.argv.slice(2), process).then(
    (code) => {
      // Exit explicitly: stdin may still be open (a terminal, or a pipe that never ends) and
      // would keep the process alive. The empty write runs its callback once earlier output
      // has been handed to the OS, so nothing printed is lost.
      process.stdout.write("", () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(
        `socketeer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
