#!/usr/bin/python3
"""Writes the C side of the interop samples to stdout.

    /usr/bin/python3 tests/interop/gen_samples.py > build/<target>/gen/interop_samples.h

The samples are defined once, in samples.json; this turns each into a C
function that fills a struct dob_msg (dob/msg.h) and one that checks a
decoded struct dob_msg against it, field by field. C gets them by
generation rather than by parsing JSON at run time because the C tool then
needs no JSON parser, and because the check walks the .proto descriptor: it
compares EVERY field of the schema (defaults included), so a field added to
the .proto without its C struct member breaks the build instead of going
unchecked.

Naming rules from .proto to dob/msg.h: the same names; `repeated x` is
`n_x` + `x`; bytes are struct dob_guid; Filter.kinds is kind_mask; Pong
uses the union member `ping`; the sub-messages in samples.PRESENCE have a
has_* flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import samples  # noqa: E402
from samples import FD, PRESENCE  # noqa: E402

SIGNED = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_SINT32, FD.TYPE_SINT64,
          FD.TYPE_SFIXED32, FD.TYPE_SFIXED64, FD.TYPE_ENUM}
UNSIGNED = {FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64,
            FD.TYPE_BOOL}
UNION_MEMBER = {"pong": "ping"}


def cstr(data):
    """A C string literal; octal escapes (never longer than 3 digits, unlike
    \\x) for everything but plain ASCII, and for '?' (trigraphs)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (ord("\\"), ord('"'), ord("?")):
            out.append(chr(b))
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def cint(field, v):
    if field.type == FD.TYPE_ENUM:
        e = field.enum_type.values_by_number.get(v)
        return "%d /* %s */" % (v, e.name if e else "unknown")
    if field.type in SIGNED:
        return "INT64_C(%d)" % v
    if field.type == FD.TYPE_BOOL:
        return "1" if v else "0"
    if field.type == FD.TYPE_FIXED32:
        return "UINT32_C(0x%08X)" % v
    return "UINT64_C(%d)" % v


class Gen:
    def __init__(self):
        self.fill = []
        self.check = []

    def f(self, depth, line):
        self.fill.append("\t" * depth + line)

    def c(self, depth, line):
        self.check.append("\t" * depth + line)

    def message(self, msg, cx, path, depth, cdepth=None):
        """Emit fill and check lines for every field of msg at C lvalue cx
        (depth: indentation of fill lines, cdepth: of check lines)."""
        if cdepth is None:
            cdepth = depth
        mname = msg.DESCRIPTOR.name
        for field in msg.DESCRIPTOR.fields:
            name = field.name
            x = "%s.%s" % (cx, name)
            p = "%s.%s" % (path, name)
            qp = cstr(p)
            if field.label == FD.LABEL_REPEATED:
                vals = list(getattr(msg, name))
                if (mname, name) == ("Filter", "kinds"):
                    mask = 0
                    for k in vals:
                        mask |= 1 << k
                    if mask:
                        self.f(depth, "%s.kind_mask = UINT32_C(0x%X);" % (cx, mask))
                    self.c(cdepth, 'chk_u(c, %s.kind_mask, UINT32_C(0x%X), %s);' % (cx, mask, qp))
                    continue
                if field.type not in (FD.TYPE_MESSAGE, FD.TYPE_BYTES):
                    raise SystemExit("gen_samples: no C mapping for repeated %s.%s" % (mname, name))
                arr = "%s.%s" % (cx, name)
                cnt = "%s.n_%s" % (cx, name)
                if vals:
                    self.f(depth, "%s = %d;" % (cnt, len(vals)))
                    self.f(depth, "%s = sample_calloc(%d, sizeof *%s);" % (arr, len(vals), arr))
                self.c(cdepth, "if (chk_n(c, %s, %s, %d, %s)) {" % (cnt, arr, len(vals), qp))
                for i, v in enumerate(vals):
                    ex = "%s[%d]" % (arr, i)
                    ep = "%s[%d]" % (p, i)
                    if field.type == FD.TYPE_BYTES:
                        self.guid(ex, ep, v, depth, cdepth + 1)
                    else:
                        self.message(v, ex, ep, depth, cdepth + 1)
                self.c(cdepth, "}")
            elif field.type == FD.TYPE_MESSAGE:
                flag = PRESENCE.get((mname, name))
                if flag:
                    has = msg.HasField(name)
                    if has:
                        self.f(depth, "%s.%s = true;" % (cx, flag))
                    self.c(cdepth, "chk_u(c, %s.%s, %d, %s);" % (cx, flag, has, cstr("%s.%s" % (path, flag))))
                    if not has:
                        continue
                self.message(getattr(msg, name), x, p, depth, cdepth)
            elif field.type == FD.TYPE_BYTES:
                self.guid(x, p, getattr(msg, name), depth, cdepth)
            elif field.type == FD.TYPE_STRING:
                v = getattr(msg, name)
                if v:
                    self.f(depth, "%s = sample_str(%s);" % (x, cstr(v)))
                self.c(cdepth, "chk_s(c, %s, %s, %s);" % (x, cstr(v), qp))
            else:
                v = getattr(msg, name)
                fn = "chk_i" if field.type in SIGNED else "chk_u"
                if v:
                    self.f(depth, "%s = %s;" % (x, cint(field, v)))
                self.c(cdepth, "%s(c, %s, %s, %s);" % (fn, x, cint(field, v), qp))

    def guid(self, x, p, v, depth, cdepth):
        if len(v) != 16:
            raise SystemExit("gen_samples: %s: %d bytes, want a 16-byte GUID" % (p, len(v)))
        if any(v):
            self.f(depth, "memcpy(%s.b, %s, 16);" % (x, cstr(v)))
        self.c(cdepth, "chk_guid(c, &%s, %s, %s);" % (x, cstr(v), cstr(p)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = ["/* Generated by tests/interop/gen_samples.py from tests/interop/samples.json."
           " Do not edit. */",
           "#ifndef DOB_INTEROP_SAMPLES_H", "#define DOB_INTEROP_SAMPLES_H", ""]
    with open(os.path.join(here, "samples_prelude.h"), encoding="utf-8") as fp:
        out.append(fp.read())
    loaded = samples.load()
    for i, (name, env) in enumerate(loaded):
        body = env.WhichOneof("body")
        g = Gen()
        member = UNION_MEMBER.get(body, body)
        g.message(getattr(env, body), "m->u.%s" % member, body, 1)
        cid = env.correlation_id
        out.append("/* sample %d: %s */" % (i, name))
        out.append("static inline void sample_fill_%d(struct dob_msg *m)\n{" % i)
        out.append("\tm->type = DOB_MSG_%s;" % body.upper())
        if cid:
            out.append("\tm->correlation_id = UINT64_C(%d);" % cid)
        out.extend(g.fill)
        out.append("}\n")
        out.append("static inline void sample_check_%d(struct sample_chk *c, const struct dob_msg *m)\n{" % i)
        out.append('\tchk_u(c, m->correlation_id, UINT64_C(%d), "correlation_id");' % cid)
        out.append('\tchk_i(c, m->type, DOB_MSG_%s, "type");' % body.upper())
        out.append("\tif (m->type != DOB_MSG_%s)\n\t\treturn;" % body.upper())
        out.extend(g.check)
        out.append("}\n")
    n = len(loaded)
    out.append("#define DOB_SAMPLES_N %d\n" % n)
    out.append("static const char *const dob_sample_names[DOB_SAMPLES_N] = {")
    out.extend('\t"%s",' % name for name, _ in loaded)
    out.append("};\n")
    out.append("/* Zeroes *m and fills it with sample i (dob_msg_clear frees it). */")
    out.append("static inline void dob_sample_fill(int i, struct dob_msg *m)\n{")
    out.append("\tmemset(m, 0, sizeof *m);\n\tswitch (i) {")
    out.extend("\tcase %d: sample_fill_%d(m); break;" % (i, i) for i in range(n))
    out.append("\tdefault: abort();\n\t}\n}\n")
    out.append("/* Compares every field of m with sample i; prints each mismatch on its")
    out.append(" * own line and returns how many there were. */")
    out.append("static inline int dob_sample_check(int i, const struct dob_msg *m)\n{")
    out.append("\tstruct sample_chk chk = { dob_sample_names[i], 0 }, *c = &chk;\n")
    out.append("\tswitch (i) {")
    out.extend("\tcase %d: sample_check_%d(c, m); break;" % (i, i) for i in range(n))
    out.append("\tdefault: abort();\n\t}\n\treturn chk.mismatches;\n}\n")
    out.append("#endif")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
