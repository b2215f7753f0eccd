/**
 * Typechecks every TypeScript example of the project, so that none of them drifts from the code:
 * the ```ts blocks of the JSDoc `@example`s in src/ (which TypeDoc copies into docs/api/) and the
 * ```ts blocks of README.md and docs/ (docs/api/ excluded: it is generated from the former).
 *
 * Each block is one ES module, compiled with the repo's tsconfig.json options (strict, NodeNext),
 * with `pg-tenants`, `pg-tenants/drizzle`, `pg-tenants/testing` and `pg-tenants/adapter` mapped to
 * src/. A block must therefore be complete: its own imports, and `declare const db: …` for what it
 * assumes. A block whose info string starts with `ts` is checked (`ts run` too: test/docs.test.ts
 * also runs those) unless it says `nocheck` (`ts nocheck`). A Markdown block whose first line
 * is a file-name comment (`// schema.ts`) is written under that name, next to the other blocks of
 * the same file, so that they can import it (`import { todos } from './schema.js'`).
 *
 * It also fails when a symbol exported by one of the entry points (re-exports followed to their
 * declarations) has no `@example` in its JSDoc, naming its file:line: every public symbol has one.
 *
 * All blocks go into one TypeScript program (fast), under a temporary directory. Prints how many
 * blocks each source gave, then every failure as `file:line message`; exits 1 on any failure.
 *
 * Usage: `npx tsx scripts/typecheck-examples.ts [--keep]` (`--keep` leaves the temporary
 * directory in place and prints its path).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

import { generatePrismaClient } from './prisma-generate.js'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The package's public entry points, by import path. */
const ENTRY_POINTS: Readonly<Record<string, string>> = {
  'pg-tenants': 'src/index.ts',
  'pg-tenants/drizzle': 'src/drizzle/index.ts',
  'pg-tenants/pg': 'src/pg/index.ts',
  'pg-tenants/pglite': 'src/pglite/index.ts',
  'pg-tenants/postgres-js': 'src/postgres-js/index.ts',
  'pg-tenants/kysely': 'src/kysely/index.ts',
  'pg-tenants/prisma': 'src/prisma/index.ts',
  'pg-tenants/express': 'src/express/index.ts',
  'pg-tenants/fastify': 'src/fastify/index.ts',
  'pg-tenants/hono': 'src/hono/index.ts',
  'pg-tenants/next': 'src/next/index.ts',
  'pg-tenants/testing': 'src/testing/index.ts',
  'pg-tenants/adapter': 'src/adapter.ts',
}

/** One extracted code block. */
interface Block {
  /** Repo-relative path of the file it came from. */
  readonly source: string
  /** 1-based line, in `source`, of the block's first code line. */
  readonly line: number
  /** The code, one entry a line. */
  readonly lines: readonly string[]
}

/** `ts`, `typescript`, `ts run`, `ts nocheck`, … as an info string: checked, skipped, or not TypeScript. */
function classify(info: string): 'check' | 'skip' | 'other' {
  const [lang = '', ...flags] = info.trim().split(/\s+/)
  if (lang !== 'ts' && lang !== 'typescript') return 'other'
  return flags.includes('nocheck') ? 'skip' : 'check'
}

/**
 * The fenced blocks of some Markdown lines (`lines[i]` is line `firstLine + i` of `source`).
 * Counts skipped (`nocheck`) blocks in `skipped`.
 */
function fencedBlocks(source: string, lines: readonly string[], firstLine: number, skipped: { count: number }): Block[] {
  const blocks: Block[] = []
  let open: { fence: string; indent: number; kind: 'check' | 'skip' | 'other'; line: number; body: string[] } | undefined
  lines.forEach((text, i) => {
    if (open === undefined) {
      const start = /^( *)(`{3,}|~{3,})(.*)$/.exec(text)
      if (start) open = { fence: start[2]!, indent: start[1]!.length, kind: classify(start[3]!), line: firstLine + i + 2, body: [] }
      return
    }
    const end = /^ *(`{3,}|~{3,})\s*$/.exec(text)
    if (end && end[1]![0] === open.fence[0] && end[1]!.length >= open.fence.length) {
      if (open.kind === 'check') blocks.push({ source, line: open.line, lines: open.body })
      if (open.kind === 'skip') skipped.count++
      open = undefined
      return
    }
    // A fence indented by n spaces (in a list) takes up to n spaces off each of its lines.
    open.body.push(text.replace(new RegExp(`^ {0,${open.indent}}`), ''))
  })
  return blocks
}

/** Every JSDoc comment of a TypeScript file, found through the parser (so that `/**` inside a
 * string or template is not taken for one), as its start offset and text. */
function jsDocComments(file: ts.SourceFile): { pos: number; text: string }[] {
  const text = file.getFullText()
  const seen = new Map<number, string>()
  const visit = (node: ts.Node): void => {
    for (const range of ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []) {
      const comment = text.slice(range.pos, range.end)
      if (range.kind === ts.SyntaxKind.MultiLineCommentTrivia && comment.startsWith('/**')) seen.set(range.pos, comment)
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return [...seen].sort(([a], [b]) => a - b).map(([pos, comment]) => ({ pos, text: comment }))
}

/** The ```ts blocks inside the `@example` tags of a source file's JSDoc comments. */
function jsDocExamples(path: string, skipped: { count: number }): Block[] {
  const source = relative(root, path)
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
  const blocks: Block[] = []
  for (const comment of jsDocComments(file)) {
    const first = file.getLineAndCharacterOfPosition(comment.pos).line // 0-based
    const lines = comment.text
      .replace(/^\/\*\*/, '')
      .replace(/\*\/$/, '')
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
    // An @example runs to the next block tag outside a fence, or to the end of the comment.
    let inExample = false
    let inFence = false
    let start = 0
    const flush = (end: number) => {
      if (inExample) blocks.push(...fencedBlocks(source, lines.slice(start, end), first + start, skipped))
    }
    lines.forEach((line, i) => {
      if (/^\s*(`{3,}|~{3,})/.test(line)) inFence = !inFence
      if (inFence) return
      const tag = /^\s*@(\w+)/.exec(line)
      if (!tag) return
      flush(i)
      inExample = tag[1] === 'example'
      start = i + 1
    })
    flush(lines.length)
  }
  return blocks
}

/** Files under `dir` whose names end in `ext`, skipping `exclude` directories and node_modules. */
function walk(dir: string, ext: string, exclude: readonly string[] = []): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && !exclude.includes(path)) out.push(...walk(path, ext, exclude))
    } else if (entry.name.endsWith(ext)) {
      out.push(path)
    }
  }
  return out
}

/** The compiler options of the repo's tsconfig.json, adjusted for standalone example modules. */
function compilerOptions(dir: string): ts.CompilerOptions {
  const configPath = join(root, 'tsconfig.json')
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p))
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root, undefined, configPath)
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false, // an example that exports a value need not name its type
    incremental: false,
    rootDir: undefined,
    outDir: undefined,
    moduleDetection: ts.ModuleDetectionKind.Force, // every block a module, imports or not
    typeRoots: [join(root, 'node_modules', '@types')],
    baseUrl: dir,
    paths: {
      ...Object.fromEntries(Object.entries(ENTRY_POINTS).map(([name, file]) => [name, [join(root, file)]])),
      // A Next.js app resolves 'next/server' as a bundler does; under NodeNext it needs '.js'.
      'next/server': [join(root, 'node_modules', 'next', 'server.d.ts')],
    },
  }
}

/**
 * Every symbol exported by an entry point (re-exports followed to their declarations) that has no
 * `@example` tag in its JSDoc, as `file:line symbol (entry point)`. A symbol exported by several
 * entry points is named once, and a declaration merged from several (overloads, a class and an
 * interface) counts as documented when one of them has an example.
 */
function missingExamples(program: ts.Program, entryFiles: readonly string[]): string[] {
  const checker = program.getTypeChecker()
  const seen = new Set<ts.Symbol>()
  const out: string[] = []
  for (const entry of entryFiles) {
    const file = program.getSourceFile(entry)
    const moduleSymbol = file && checker.getSymbolAtLocation(file)
    if (!moduleSymbol) {
      out.push(`${relative(root, entry)}: not a module`)
      continue
    }
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      if (seen.has(symbol)) continue
      seen.add(symbol)
      const declarations = symbol.getDeclarations() ?? []
      if (declarations.some((d) => ts.getJSDocTags(d).some((tag) => tag.tagName.text === 'example'))) continue
      const first = declarations[0]
      const where = first
        ? `${relative(root, first.getSourceFile().fileName)}:${first.getSourceFile().getLineAndCharacterOfPosition(first.getStart()).line + 1}`
        : relative(root, entry)
      out.push(`${where} ${exported.getName()} (exported by ${relative(root, entry)}): no @example in its JSDoc`)
    }
  }
  return out
}

function main(): void {
  generatePrismaClient() // the docs' Prisma examples import the tests' generated client
  const keep = process.argv.includes('--keep')
  const started = performance.now()
  const skipped = { jsdoc: { count: 0 }, markdown: { count: 0 } }

  const jsdoc = walk(join(root, 'src'), '.ts').flatMap((path) => jsDocExamples(path, skipped.jsdoc))
  const markdownFiles = [join(root, 'README.md'), ...walk(join(root, 'docs'), '.md', [join(root, 'docs', 'api')])]
  const markdown = markdownFiles.flatMap((path) => {
    const lines = readFileSync(path, 'utf8').split('\n')
    return fencedBlocks(relative(root, path), lines, 0, skipped.markdown)
  })

  const dir = mkdtempSync(join(tmpdir(), 'pg-tenants-examples-'))
  // The blocks import drizzle-orm, pg, … as a user's code would: from the repo's node_modules.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))

  /** Written file → the block it holds. */
  const files = new Map<string, Block>()
  for (const block of [...jsdoc, ...markdown]) {
    // One folder per source file, so that `./schema.js` reaches the `// schema.ts` block of the
    // same document and no other.
    const folder = join(dir, block.source.replace(/[^A-Za-z0-9_-]+/g, '_'))
    mkdirSync(folder, { recursive: true })
    const named = /^\/\/\s*([A-Za-z0-9_.-]+\.ts)\s*$/.exec(block.lines[0] ?? '')?.[1]
    let path = join(folder, named ?? `line-${block.line}.ts`)
    if (files.has(path)) path = join(folder, `line-${block.line}.ts`)
    files.set(path, block)
    // The Prisma client of the docs is the tests' client, generated from the same model.
    writeFileSync(path, block.lines.join('\n').replaceAll("'./generated/prisma/client.js'", `'${join(root, 'test/prisma/generated/client.js')}'`) + '\n')
  }

  const entryFiles = Object.values(ENTRY_POINTS).map((file) => join(root, file))
  const program = ts.createProgram({ rootNames: [...files.keys(), ...entryFiles], options: compilerOptions(dir) })
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[...files.keys()].flatMap((path) => {
      const file = program.getSourceFile(path)
      return file ? [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)] : []
    }),
  ]

  const failed = new Set<Block>()
  const reports: string[] = []
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ')
    const block = diagnostic.file && files.get(resolve(diagnostic.file.fileName))
    if (diagnostic.file && diagnostic.start !== undefined && block) {
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
      failed.add(block)
      reports.push(`${block.source}:${block.line + line}:${character + 1} TS${diagnostic.code}: ${message}`)
    } else {
      const where = diagnostic.file ? `${relative(root, diagnostic.file.fileName)}: ` : ''
      reports.push(`${where}TS${diagnostic.code}: ${message}`)
    }
  }

  const missing = missingExamples(program, entryFiles)

  const count = (blocks: readonly Block[], source: string) => blocks.filter((b) => b.source === source).length
  console.log(`JSDoc @example blocks in src/: ${jsdoc.length} checked, ${skipped.jsdoc.count} skipped (nocheck)`)
  console.log(`Markdown blocks: ${markdown.length} checked, ${skipped.markdown.count} skipped (nocheck)`)
  for (const path of markdownFiles) console.log(`  ${relative(root, path)}: ${count(markdown, relative(root, path))}`)
  for (const report of [...reports, ...missing]) console.error(report)

  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  if (keep) console.log(`blocks kept in ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
  if (reports.length > 0 || missing.length > 0) {
    for (const block of failed) console.error(`failed: the block at ${block.source}:${block.line}`)
    if (reports.length > 0) console.error(`${failed.size} of ${files.size} blocks failed (${reports.length} errors)`)
    if (missing.length > 0) console.error(`${missing.length} exported symbols have no @example`)
    console.error(`failed in ${seconds} s`)
    process.exit(1)
  }
  console.log(`all ${files.size} blocks typecheck, and every exported symbol has an @example (${seconds} s)`)
}

main()
