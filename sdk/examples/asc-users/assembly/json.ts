// A small JSON reader and writer: enough for Portico's messages, and
// careful with what it is given (bounded nesting, no trap on bad input).

export const NULL = 0;
export const BOOL = 1;
export const NUMBER = 2;
export const STRING = 3;
export const ARRAY = 4;
export const OBJECT = 5;

export class Value {
  kind: i32 = NULL;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  items: Value[] = [];   // an array's elements
  keys: string[] = [];   // an object's members, in order
  vals: Value[] = [];

  // get returns the member named key of an object, or null.
  get(key: string): Value | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.vals[i];
    }
    return null;
  }

  // string returns the member named key if it is a string, else "".
  string(key: string): string {
    const v = this.get(key);
    return v != null && v.kind == STRING ? v.str : "";
  }
}

const maxDepth = 32;

// parse reads one JSON document; null when it is not valid JSON.
export function parse(s: string): Value | null {
  const p = new Parser(s);
  const v = p.value(0);
  p.space();
  return p.ok && p.i == s.length ? v : null;
}

class Parser {
  i: i32 = 0;
  ok: bool = true;
  constructor(public s: string) {}

  fail(): Value {
    this.ok = false;
    return new Value();
  }

  space(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.i++;
    }
  }

  // eat consumes word (a literal such as "true") if it comes next.
  eat(word: string): bool {
    if (this.s.substr(this.i, word.length) != word) return false;
    this.i += word.length;
    return true;
  }

  value(depth: i32): Value {
    if (depth > maxDepth) return this.fail();
    this.space();
    if (this.i >= this.s.length) return this.fail();
    const v = new Value();
    const c = this.s.charCodeAt(this.i);
    if (c == 0x22) { // "
      v.kind = STRING;
      v.str = this.string();
    } else if (c == 0x7b) { // {
      v.kind = OBJECT;
      this.i++;
      this.space();
      if (this.eat("}")) return v;
      do {
        this.space();
        if (this.i >= this.s.length || this.s.charCodeAt(this.i) != 0x22) return this.fail();
        v.keys.push(this.string());
        this.space();
        if (!this.eat(":")) return this.fail();
        v.vals.push(this.value(depth + 1));
        this.space();
      } while (this.ok && this.eat(","));
      if (!this.eat("}")) return this.fail();
    } else if (c == 0x5b) { // [
      v.kind = ARRAY;
      this.i++;
      this.space();
      if (this.eat("]")) return v;
      do {
        v.items.push(this.value(depth + 1));
        this.space();
      } while (this.ok && this.eat(","));
      if (!this.eat("]")) return this.fail();
    } else if (this.eat("true")) {
      v.kind = BOOL;
      v.bool = true;
    } else if (this.eat("false")) {
      v.kind = BOOL;
    } else if (this.eat("null")) {
      v.kind = NULL;
    } else {
      const start = this.i;
      while (this.i < this.s.length && "+-0123456789.eE".includes(this.s.charAt(this.i))) this.i++;
      if (this.i == start) return this.fail();
      v.kind = NUMBER;
      v.num = parseFloat(this.s.substring(start, this.i));
      if (isNaN(v.num)) return this.fail();
    }
    return v;
  }

  // string reads a string literal, the opening quote next.
  string(): string {
    this.i++;
    let out = "";
    let start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c == 0x22) {
        out += this.s.substring(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) break;
      if (c != 0x5c) { // not a backslash
        this.i++;
        continue;
      }
      out += this.s.substring(start, this.i);
      const e = this.s.charAt(this.i + 1);
      this.i += 2;
      if (e == "u") {
        let code = 0;
        for (let k = 0; k < 4; k++) {
          const d = "0123456789abcdef".indexOf(this.s.charAt(this.i + k).toLowerCase());
          if (d < 0) {
            this.ok = false;
            return "";
          }
          code = code * 16 + d;
        }
        out += String.fromCharCode(code); // a UTF-16 unit: surrogate pairs join up
        this.i += 4;
      } else {
        const at = "\"\\/bfnrt".indexOf(e);
        if (e.length == 0 || at < 0) break;
        out += "\"\\/\b\f\n\r\t".charAt(at);
      }
      start = this.i;
    }
    this.ok = false;
    return "";
  }
}

// quote writes s as a JSON string literal.
export function quote(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(start, i);
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    start = i + 1;
  }
  return out + s.substring(start) + "\"";
}
