/**
 * A small command-line parser for the `socketeer` CLI.
 *
 * Hand-written rather than `node:util.parseArgs` because the CLI wants three things that one
 * does not give: a "did you mean" hint for a mistyped flag, literal flag names that start with
 * `no-` (`--no-check` is its own switch, not the negation of `--check`), and one error type the
 * caller can turn into exit code 2 with the command's usage line.
 */

/** How one option is spelled and what it holds. */
export interface OptionSpec {
  /** `boolean` switches take no value; `string` options take exactly one. */
  readonly type: "boolean" | "string";
  /** A `string` option that may be repeated; its values are collected in order. */
  readonly multiple?: boolean;
  /** One-letter alias, written `-x` on the command line. */
  readonly short?: string;
}

/** The options a command accepts, keyed by long name (without the leading `--`). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The parsed value of one option: a flag, a list, or a string that may be absent. */
export type OptionValue<O extends OptionSpec> = O["type"] extends "boolean"
  ? boolean
  : O["multiple"] extends true
    ? string[]
    : string | undefined;

/** Parsed option values, one property per declared option. */
export type OptionValues<S extends OptionSpecs> = { -readonly [K in keyof S]: OptionValue<S[K]> };

/** The result of {@link parseArgs}. */
export interface ParsedArgs<S extends OptionSpecs> {
  /** Every declared option: `false`, `[]` or `undefined` when not given. */
  values: OptionValues<S>;
  /** Arguments that are not options, in order (everything after `--` included). */
  positionals: string[];
}

/**
 * A mistake in how the command was invoked (unknown flag, missing value, bad number…).
 * The CLI prints the message with a pointer to `--help` and exits with code 2.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses `argv` (without the node binary, script or command name) against `specs`.
 *
 * Accepts `--name value`, `--name=value`, `-x value`, bundled one-letter switches (`-hv`),
 * and `--` to end option parsing. Throws {@link UsageError} for anything it does not know.
 */
export function parseArgs<S extends OptionSpecs>(argv: readonly string[], specs: S): ParsedArgs<S> {
  const values: Record<string, boolean | string | string[] | undefined> = {};
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = spec.type === "boolean" ? false : spec.multiple ? [] : undefined;
    if (spec.short !== undefined) byShort.set(spec.short, name);
  }
  const positionals: string[] = [];

  const assign = (name: string, spec: OptionSpec, value: string | undefined, shown: string) => {
    if (spec.type === "boolean") {
      if (value !== undefined) throw new UsageError(`option ${shown} does not take a value`);
      values[name] = true;
      return;
    }
    if (value === undefined) throw new UsageError(`option ${shown} needs a value`);
    const current = values[name];
    if (Array.isArray(current)) current.push(value);
    else values[name] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (spec === undefined) throw unknownOption(`--${name}`, specs);
      let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
      // A following argument that looks like another long option is almost always a
      // forgotten value (`--protocol --compress`), so it is not swallowed as the value.
      if (spec.type === "string" && value === undefined && i + 1 < argv.length) {
        const next = argv[i + 1] as string;
        if (!next.startsWith("--")) {
          value = next;
          i++;
        }
      }
      assign(name, spec, value, `--${name}`);
      continue;
    }
    if (arg.length > 1 && arg.startsWith("-") && !/^-\d/.test(arg)) {
      // One or more one-letter options; only the last may take a value (`-vp 8080`).
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const name = byShort.get(letter);
        const spec = name === undefined ? undefined : specs[name];
        if (name === undefined || spec === undefined) throw unknownOption(`-${letter}`, specs);
        if (spec.type === "string") {
          let value: string | undefined = arg.slice(j + 1) || undefined;
          if (value === undefined && i + 1 < argv.length) value = argv[++i];
          assign(name, spec, value, `-${letter}`);
          break;
        }
        assign(name, spec, undefined, `-${letter}`);
      }
      continue;
    }
    positionals.push(arg);
  }
  return { values: values as OptionValues<S>, positionals };
}

/**
 * Parses a TCP port: an integer from 0 to 65535 (0 asks the OS for a free one).
 * Throws {@link UsageError} naming `what` otherwise.
 */
export function parsePort(text: string, what = "--port"): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${what} must be a whole number from 0 to 65535 (got "${text}")`);
  }
  return Number(text);
}

/** Parses a non-negative number of seconds (fractions allowed), for `--wait`. */
export function parseSeconds(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${what} must be a number of seconds, 0 or more (got "${text}")`);
  }
  return n;
}

function unknownOption(shown: string, specs: OptionSpecs): UsageError {
  const names = Object.keys(specs).map((n) => `--${n}`);
  const guess = closest(shown, names);
  return new UsageError(`unknown option ${shown}${guess ? ` (did you mean ${guess}?)` : ""}`);
}

/** The candidate within edit distance 2 of `word`, if any: enough for typos, not for guesses. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(
        Math.min(
          (previous[j] as number) + 1,
          (row[j - 1] as number) + 1,
          (previous[j - 1] as number) + cost,
        ),
      );
    }
    previous = row;
  }
  return previous[b.length] as number;
}
