// A Portico password connector written in AssemblyScript, against the
// WASM ABI of docs/wasm-abi.md alone: the exports, the JSON messages of
// docs/wasm-abi/*.schema.json, and the log host function. No WASI.
//
// Its config block lists the users:
//
//   {"users": [{"username": "ada", "subject": "u-ada",
//               "password_sha256": "<hex SHA-256 of the password>",
//               "email": "ada@example.org", "name": "Ada", "groups": ["staff"]}]}
//
// An unsalted fast hash keeps the example short; a real connector checks
// passwords against a store that uses a slow, salted one.

import { parse, quote, Value, ARRAY, OBJECT, STRING } from "./json";
import { sha256Hex } from "./sha256";

// The broker's log host function (import module "portico").
@external("portico", "log")
declare function hostLog(level: i32, ptr: usize, len: i32): void;

const levelInfo = 0;

// log sends one record: a JSON object with the message under "msg".
function log(level: i32, record: string): void {
  const b = String.UTF8.encode(record);
  hostLog(level, changetype<usize>(b), b.byteLength);
}

// ---- The ABI: three exports, plus the memory AssemblyScript exports.

export function portico_abi_version(): i32 {
  return 1;
}

// portico_alloc returns a buffer of size bytes for the broker's request.
// It is raw memory, outside the garbage collector, so no collection moves
// or frees it before portico_call reads it; portico_call frees it. When
// memory cannot grow (memory_limit), heap.alloc traps, as the ABI asks:
// that call fails, and the broker replaces the instance.
export function portico_alloc(size: i32): i32 {
  return i32(heap.alloc(usize(max(size, 1))));
}

// answer is the last answer; a global, so the collector keeps it until
// the next call, when the broker has read it.
let answer = new ArrayBuffer(0);

export function portico_call(ptr: i32, len: i32): i64 {
  const req = String.UTF8.decodeUnsafe(usize(ptr), usize(len));
  heap.free(usize(ptr));
  answer = String.UTF8.encode(serve(req));
  return (i64(changetype<usize>(answer)) << 32) | i64(answer.byteLength);
}

// ---- The connector.

class User {
  username: string = "";
  subject: string = "";
  digest: string = "";
  email: string = "";
  name: string = "";
  groups: string[] = [];
}

let users: User[] = [];

function serve(raw: string): string {
  const req = parse(raw);
  if (req == null || req.kind != OBJECT) return failure("failed", "malformed request");
  const op = req.string("op");
  if (op == "info") return '{"info":{"version":1,"password":true}}';
  if (op == "configure") return configure(req.get("config"));
  if (op == "login") return login(req.string("username"), req.string("password"));
  return failure("failed", "unknown operation " + quote(op));
}

function failure(kind: string, message: string): string {
  return '{"error":{"kind":' + quote(kind) + ',"message":' + quote(message) + "}}";
}

// configure reads the users; {} accepts the config, an error rejects it.
function configure(config: Value | null): string {
  if (config == null) return failure("failed", "config: users: a list is required");
  const list = config.get("users");
  if (list == null || list.kind != ARRAY) return failure("failed", "config: users: a list is required");
  const read: User[] = [];
  for (let i = 0; i < list.items.length; i++) {
    const v = list.items[i];
    const where = "config: users[" + i.toString() + "]: ";
    if (v.kind != OBJECT) return failure("failed", where + "not an object");
    const u = new User();
    u.username = v.string("username");
    u.subject = v.string("subject");
    u.digest = v.string("password_sha256").toLowerCase();
    u.email = v.string("email");
    u.name = v.string("name");
    if (u.username == "" || u.subject == "") return failure("failed", where + "username and subject are required");
    if (!isHex(u.digest, 64)) return failure("failed", where + "password_sha256: 64 hex digits are required");
    for (let j = 0; j < read.length; j++) {
      if (read[j].username == u.username) return failure("failed", where + "username " + quote(u.username) + " is listed twice");
    }
    const groups = v.get("groups");
    if (groups != null) {
      if (groups.kind != ARRAY) return failure("failed", where + "groups: a list of strings is required");
      for (let j = 0; j < groups.items.length; j++) {
        if (groups.items[j].kind != STRING) return failure("failed", where + "groups: a list of strings is required");
        u.groups.push(groups.items[j].str);
      }
    }
    read.push(u);
  }
  users = read;
  log(levelInfo, '{"msg":"configured","users":' + users.length.toString() + "}");
  return "{}";
}

// login answers the identity, or invalid_credentials for an unknown user
// and a wrong password alike.
function login(username: string, password: string): string {
  const digest = sha256Hex(password); // hashed for unknown users too
  for (let i = 0; i < users.length; i++) {
    const u = users[i];
    if (u.username != username || !same(u.digest, digest)) continue;
    let groups = "";
    for (let j = 0; j < u.groups.length; j++) groups += (j > 0 ? "," : "") + quote(u.groups[j]);
    return '{"identity":{"subject":' + quote(u.subject) +
      ',"username":' + quote(u.username) +
      ',"preferred_username":' + quote(u.username) +
      ',"email":' + quote(u.email) +
      ',"email_verified":' + (u.email != "" ? "true" : "false") + // whoever wrote the config vouches

      ',"name":' + quote(u.name) +
      ',"groups":[' + groups + "]}}";
  }
  return failure("invalid_credentials", "invalid credentials");
}

function isHex(s: string, n: i32): bool {
  if (s.length != n) return false;
  for (let i = 0; i < n; i++) {
    if (!"0123456789abcdef".includes(s.charAt(i))) return false;
  }
  return true;
}

// same compares two digests in time independent of where they differ.
function same(a: string, b: string): bool {
  if (a.length != b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff == 0;
}

// abort replaces AssemblyScript's env.abort import, which the broker does
// not offer: a failed assertion or allocation traps.
function abort(message: usize, file: usize, line: u32, column: u32): void {
  unreachable();
}
