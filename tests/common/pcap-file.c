#include "pcap-file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_RECORD 262144

static guint32
rd32 (const guint8 *p, gboolean swap)
{
  guint32 v;
  memcpy (&v, p, 4);
  return swap ? GUINT32_SWAP_LE_BE (v) : v;
}

GPtrArray *
pcap_file_read (const char *path, GError **error)
{
  g_autofree guint8 *buf = NULL;
  g_autoptr (GPtrArray) out
    = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  gsize len, off = 24;
  guint32 magic;
  gboolean swap;

  if (!g_file_get_contents (path, (char **) &buf, &len, error))
    return NULL;
  if (len < 24)
    goto bad;
  memcpy (&magic, buf, 4);
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
    swap = FALSE;
  else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
    swap = TRUE;
  else
    goto bad;
  if (rd32 (buf + 20, swap) != PCAP_LINKTYPE_RAW)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s: link type %u, only raw IP (101) is supported", path,
                   rd32 (buf + 20, swap));
      return NULL;
    }
  while (off < len)
    {
      guint32 caplen;
      if (len - off < 16)
        goto bad;
      caplen = rd32 (buf + off + 8, swap);
      off += 16;
      if (caplen > MAX_RECORD || caplen > len - off)
        goto bad;
      g_ptr_array_add (out, g_bytes_new (buf + off, caplen));
      off += caplen;
    }
  return g_steal_pointer (&out);

bad:
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a valid pcap file",
               path);
  return NULL;
}

struct _PcapWriter
{
  FILE *f;
  gboolean failed;
};

PcapWriter *
pcap_writer_open (const char *path, GError **error)
{
  static const guint32 hdr[6]
    = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, PCAP_LINKTYPE_RAW };
  PcapWriter *w = g_new0 (PcapWriter, 1);

  w->f = fopen (path, "wb");
  if (w->f == NULL)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot write %s: %s", path, g_strerror (errno));
      g_free (w);
      return NULL;
    }
  w->failed = fwrite (hdr, sizeof hdr, 1, w->f) != 1;
  return w;
}

gboolean
pcap_writer_add (PcapWriter *w, const guint8 *data, gsize len, gint64 usec)
{
  guint32 rec[4] = { (guint32) (usec / G_USEC_PER_SEC), (guint32) (usec % G_USEC_PER_SEC),
                     (guint32) len, (guint32) len };

  if (fwrite (rec, sizeof rec, 1, w->f) != 1 || fwrite (data, 1, len, w->f) != len)
    w->failed = TRUE;
  return !w->failed;
}

gboolean
pcap_writer_close (PcapWriter *w, GError **error)
{
  gboolean ok = !w->failed;

  if (fclose (w->f) != 0)
    ok = FALSE;
  g_free (w);
  if (!ok)
    g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                         "writing the pcap failed");
  return ok;
}
