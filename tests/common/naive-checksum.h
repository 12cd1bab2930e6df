/* An independent Internet checksum for tests: RFC 1071 as written, one
 * big-endian 16-bit word at a time, with its own pseudo-header assembly.
 * It shares no code with libfz's checksum on purpose. */
#pragma once

#include <glib.h>
#include <string.h>

static inline guint16
naive_checksum (const guint8 *p, gsize len)
{
  guint32 sum = 0;

  for (gsize i = 0; i + 1 < len; i += 2)
    {
      sum += (guint32) (p[i] << 8 | p[i + 1]);
      sum = (sum & 0xffff) + (sum >> 16);
    }
  if (len & 1)
    {
      sum += (guint32) p[len - 1] << 8;
      sum = (sum & 0xffff) + (sum >> 16);
    }
  return (guint16) (~sum & 0xffff);
}

/* Checksum over pseudo header + L4 bytes as they are in the packet. Returns
 * 0 when the stored checksum is right. @l4_off/@proto come from the caller's
 * own reading of the packet. */
static inline guint16
naive_l4_checksum (const guint8 *pkt, gsize len, gsize l4_off, guint8 proto)
{
  gboolean v4 = (pkt[0] >> 4) == 4;
  gsize alen = v4 ? 4 : 16, l4_len = len - l4_off, n = 0;
  g_autofree guint8 *buf = g_malloc (40 + l4_len);
  gboolean pseudo = !(v4 && proto == 1);

  if (pseudo)
    {
      memcpy (buf, pkt + (v4 ? 12 : 8), alen * 2);
      n = alen * 2;
      if (v4)
        {
          buf[n++] = 0;
          buf[n++] = proto;
          buf[n++] = l4_len >> 8;
          buf[n++] = l4_len & 0xff;
        }
      else
        {
          buf[n++] = l4_len >> 24;
          buf[n++] = (l4_len >> 16) & 0xff;
          buf[n++] = (l4_len >> 8) & 0xff;
          buf[n++] = l4_len & 0xff;
          buf[n++] = 0;
          buf[n++] = 0;
          buf[n++] = 0;
          buf[n++] = proto;
        }
    }
  memcpy (buf + n, pkt + l4_off, l4_len);
  return naive_checksum (buf, n + l4_len);
}
