/* Secret values: read at run time from ${env:...} or ${file:...}, held in an opaque type with no
 * way to print it, and wiped when freed. Only the code that must send the value (or hash it)
 * calls secret_bytes(). */
#ifndef BERTH_SECRET_H
#define BERTH_SECRET_H
#include <stddef.h>

#include "spec/spec.h"

typedef struct secret_value secret_value;

/* Returns 0, or -1 with *err naming the variable or file (never the value). */
int secret_resolve(const spec_secret_ref *ref, secret_value **out, char **err);
const unsigned char *secret_bytes(const secret_value *s, size_t *len);
void secret_free(secret_value *s);

#endif
