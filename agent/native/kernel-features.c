// SPDX-License-Identifier: Apache-2.0
/*
 * What the running kernel offers, read from its BTF before the programs load:
 * tracepoint signatures (older kernels lack the reason argument) and the names
 * of the enums whose numbering changes between kernel releases.
 */
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include "kernel-features.h"

/* Arguments of a BTF-enabled tracepoint, from its btf_trace_<name> typedef
 * (a pointer to a function whose first parameter is the probe's void *data).
 * Returns -1 when the kernel has no such tracepoint. */
int tracepoint_args(const struct btf *btf, const char *name)
{
	char typedef_name[128];
	const struct btf_type *t;
	int id;

	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	id = btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return -1;
	return btf_vlen(t) - 1;
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* {"<value>":"<NAME without prefix>",...} for an enum of the kernel, or {} */
void enum_names_json(FILE *out, const struct btf *btf, const char *enum_name, const char *prefix)
{
	size_t plen = strlen(prefix);
	const struct btf_type *t;
	const struct btf_enum *e;
	int id, i, first = 1;

	fputc('{', out);
	id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	if (id >= 0) {
		t = btf__type_by_id(btf, id);
		e = btf_enum(t);
		for (i = 0; i < btf_vlen(t); i++, e++) {
			const char *n = btf__name_by_offset(btf, e->name_off);

			if (!strncmp(n, prefix, plen))
				n += plen;
			fprintf(out, "%s\"%d\":", first ? "" : ",", e->val);
			json_string(out, n);
			first = 0;
		}
	}
	fputc('}', out);
}
