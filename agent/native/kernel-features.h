/* SPDX-License-Identifier: Apache-2.0 */
#ifndef RSTSCOPE_KERNEL_FEATURES_H
#define RSTSCOPE_KERNEL_FEATURES_H

#include <stdio.h>

struct btf;

int tracepoint_args(const struct btf *btf, const char *name);
void enum_names_json(FILE *out, const struct btf *btf, const char *enum_name, const char *prefix);

#endif
