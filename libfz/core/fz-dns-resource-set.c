#include "fz-dns-resource-set-private.h"

#include <string.h>

typedef struct
{
  char *id;
  FzDnsPattern *pattern;
} Entry;

struct _FzDnsResourceSet
{
  GHashTable *by_id;   /* id → Entry, owned */
  GHashTable *by_tail; /* tail → GPtrArray of Entry, most specific first */
};

static void
entry_free (gpointer data)
{
  Entry *e = data;

  g_free (e->id);
  fz_dns_pattern_free (e->pattern);
  g_free (e);
}

/* < 0 when `a` wins over `b`. */
static int
entry_compare (const Entry *a, const Entry *b)
{
  int c = fz_dns_pattern_compare (a->pattern, b->pattern);

  return c != 0 ? c : -strcmp (a->id, b->id);
}

FzDnsResourceSet *
fz_dns_resource_set_new (void)
{
  FzDnsResourceSet *set = g_new0 (FzDnsResourceSet, 1);

  set->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, entry_free);
  set->by_tail = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_ptr_array_unref);
  return set;
}

void
fz_dns_resource_set_free (FzDnsResourceSet *set)
{
  if (set == NULL)
    return;
  g_hash_table_destroy (set->by_tail);
  g_hash_table_destroy (set->by_id);
  g_free (set);
}

static void
bucket_insert (FzDnsResourceSet *set, Entry *e)
{
  const char *tail = fz_dns_pattern_get_tail (e->pattern);
  GPtrArray *bucket = g_hash_table_lookup (set->by_tail, tail);
  guint i = 0;

  if (bucket == NULL)
    {
      bucket = g_ptr_array_new ();
      g_hash_table_insert (set->by_tail, g_strdup (tail), bucket);
    }
  while (i < bucket->len && entry_compare (g_ptr_array_index (bucket, i), e) < 0)
    i++;
  g_ptr_array_insert (bucket, i, e);
}

static void
bucket_remove (FzDnsResourceSet *set, Entry *e)
{
  const char *tail = fz_dns_pattern_get_tail (e->pattern);
  GPtrArray *bucket = g_hash_table_lookup (set->by_tail, tail);

  g_ptr_array_remove (bucket, e);
  if (bucket->len == 0)
    g_hash_table_remove (set->by_tail, tail);
}

gboolean
fz_dns_resource_set_remove (FzDnsResourceSet *set, const char *id)
{
  Entry *e = g_hash_table_lookup (set->by_id, id);

  if (e == NULL)
    return FALSE;
  bucket_remove (set, e);
  g_hash_table_remove (set->by_id, id);
  return TRUE;
}

gboolean
fz_dns_resource_set_add (FzDnsResourceSet *set, const char *id, const char *pattern,
                         GError **error)
{
  FzDnsPattern *p = fz_dns_pattern_new (pattern, error);

  if (p == NULL)
    return FALSE;
  fz_dns_resource_set_remove (set, id);

  Entry *e = g_new0 (Entry, 1);
  e->id = g_strdup (id);
  e->pattern = p;
  g_hash_table_insert (set->by_id, e->id, e);
  bucket_insert (set, e);
  return TRUE;
}

guint
fz_dns_resource_set_size (const FzDnsResourceSet *set)
{
  return g_hash_table_size (set->by_id);
}

const FzDnsPattern *
fz_dns_resource_set_get_pattern (const FzDnsResourceSet *set, const char *id)
{
  Entry *e = g_hash_table_lookup (set->by_id, id);

  return e != NULL ? e->pattern : NULL;
}

/* The suffix of `name` starting at label `i`; i == n_labels gives "". */
static const char *
name_suffix (const FzDnsName *name, guint i)
{
  return i < name->n_labels ? name->text + name->label_start[i] : "";
}

guint
fz_dns_resource_set_lookup_all (const FzDnsResourceSet *set, const FzDnsName *name,
                                const char **ids, guint max)
{
  guint n = 0;

  if (name->n_labels == 0)
    return 0;
  for (guint i = 0; i <= name->n_labels && n < max; i++)
    {
      GPtrArray *bucket = g_hash_table_lookup (set->by_tail, name_suffix (name, i));

      for (guint k = 0; bucket != NULL && k < bucket->len && n < max; k++)
        {
          Entry *e = g_ptr_array_index (bucket, k);

          if (fz_dns_pattern_matches_name (e->pattern, name))
            ids[n++] = e->id;
        }
    }
  return n;
}

const char *
fz_dns_resource_set_lookup (const FzDnsResourceSet *set, const FzDnsName *name)
{
  const char *id = NULL;

  return fz_dns_resource_set_lookup_all (set, name, &id, 1) == 1 ? id : NULL;
}
