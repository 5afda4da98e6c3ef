/*
 * unpack/'s libraries loaded on first use: libarchive (layer decompression and tar) and
 * libcrypto (sha256) are opened with dlopen() when an unpack function first runs, so a program
 * that links libthinsnap but never unpacks does not load them (and what they pull in: libxml2,
 * ICU, libstdc++, ...) at every start. Each function unpack/ calls is a pointer in one table;
 * the macros below turn unpack/'s calls into calls through it.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <thinsnap/error.h>

/* X(name) for every libarchive function unpack/ calls. */
#define THINSNAP_UNPACK_ARCHIVE_FNS(X)      \
	X(archive_read_new)                 \
	X(archive_read_free)                \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_raw)  \
	X(archive_read_support_format_tar)  \
	X(archive_read_open)                \
	X(archive_read_next_header)         \
	X(archive_read_data)                \
	X(archive_read_data_block)          \
	X(archive_error_string)             \
	X(archive_errno)                    \
	X(archive_set_error)                \
	X(archive_entry_pathname)           \
	X(archive_entry_filetype)           \
	X(archive_entry_size)               \
	X(archive_entry_size_is_set)        \
	X(archive_entry_symlink)            \
	X(archive_entry_hardlink)           \
	X(archive_entry_perm)               \
	X(archive_entry_uid)                \
	X(archive_entry_gid)                \
	X(archive_entry_rdev)               \
	X(archive_entry_mtime)              \
	X(archive_entry_mtime_nsec)         \
	X(archive_entry_atime)              \
	X(archive_entry_atime_nsec)         \
	X(archive_entry_atime_is_set)       \
	X(archive_entry_xattr_reset)        \
	X(archive_entry_xattr_next)

/* X(name) for every libcrypto function unpack/ calls. */
#define THINSNAP_UNPACK_CRYPTO_FNS(X) \
	X(EVP_MD_CTX_new)             \
	X(EVP_MD_CTX_free)            \
	X(EVP_sha256)                 \
	X(EVP_DigestInit_ex)          \
	X(EVP_DigestUpdate)           \
	X(EVP_DigestFinal_ex)

#define THINSNAP_UNPACK_LIBS_MEMBER(name) __typeof__(name) *name;
struct thinsnap_unpack_libs {
	THINSNAP_UNPACK_ARCHIVE_FNS(THINSNAP_UNPACK_LIBS_MEMBER)
	THINSNAP_UNPACK_CRYPTO_FNS(THINSNAP_UNPACK_LIBS_MEMBER)
};

/* Filled by thinsnap_unpack_libs_load(); read-only afterwards. */
extern struct thinsnap_unpack_libs thinsnap_unpack_libs;

/*
 * Opens both libraries and resolves the table, once per process (later calls return the
 * first call's result). Fails with -ELIBACC and a message naming the library or symbol
 * that is missing. Every public unpack function calls it before anything else.
 */
int thinsnap_unpack_libs_load(struct thinsnap_error *reterr);

#ifndef THINSNAP_UNPACK_LIBS_TABLE
#define archive_read_new                 (thinsnap_unpack_libs.archive_read_new)
#define archive_read_free                (thinsnap_unpack_libs.archive_read_free)
#define archive_read_support_filter_gzip (thinsnap_unpack_libs.archive_read_support_filter_gzip)
#define archive_read_support_filter_zstd (thinsnap_unpack_libs.archive_read_support_filter_zstd)
#define archive_read_support_format_raw  (thinsnap_unpack_libs.archive_read_support_format_raw)
#define archive_read_support_format_tar  (thinsnap_unpack_libs.archive_read_support_format_tar)
#define archive_read_open                (thinsnap_unpack_libs.archive_read_open)
#define archive_read_next_header         (thinsnap_unpack_libs.archive_read_next_header)
#define archive_read_data                (thinsnap_unpack_libs.archive_read_data)
#define archive_read_data_block          (thinsnap_unpack_libs.archive_read_data_block)
#define archive_error_string             (thinsnap_unpack_libs.archive_error_string)
#define archive_errno                    (thinsnap_unpack_libs.archive_errno)
#define archive_set_error                (thinsnap_unpack_libs.archive_set_error)
#define archive_entry_pathname           (thinsnap_unpack_libs.archive_entry_pathname)
#define archive_entry_filetype           (thinsnap_unpack_libs.archive_entry_filetype)
#define archive_entry_size               (thinsnap_unpack_libs.archive_entry_size)
#define archive_entry_size_is_set        (thinsnap_unpack_libs.archive_entry_size_is_set)
#define archive_entry_symlink            (thinsnap_unpack_libs.archive_entry_symlink)
#define archive_entry_hardlink           (thinsnap_unpack_libs.archive_entry_hardlink)
#define archive_entry_perm               (thinsnap_unpack_libs.archive_entry_perm)
#define archive_entry_uid                (thinsnap_unpack_libs.archive_entry_uid)
#define archive_entry_gid                (thinsnap_unpack_libs.archive_entry_gid)
#define archive_entry_rdev               (thinsnap_unpack_libs.archive_entry_rdev)
#define archive_entry_mtime              (thinsnap_unpack_libs.archive_entry_mtime)
#define archive_entry_mtime_nsec         (thinsnap_unpack_libs.archive_entry_mtime_nsec)
#define archive_entry_atime              (thinsnap_unpack_libs.archive_entry_atime)
#define archive_entry_atime_nsec         (thinsnap_unpack_libs.archive_entry_atime_nsec)
#define archive_entry_atime_is_set       (thinsnap_unpack_libs.archive_entry_atime_is_set)
#define archive_entry_xattr_reset        (thinsnap_unpack_libs.archive_entry_xattr_reset)
#define archive_entry_xattr_next         (thinsnap_unpack_libs.archive_entry_xattr_next)
#define EVP_MD_CTX_new                   (thinsnap_unpack_libs.EVP_MD_CTX_new)
#define EVP_MD_CTX_free                  (thinsnap_unpack_libs.EVP_MD_CTX_free)
#define EVP_sha256                       (thinsnap_unpack_libs.EVP_sha256)
#define EVP_DigestInit_ex                (thinsnap_unpack_libs.EVP_DigestInit_ex)
#define EVP_DigestUpdate                 (thinsnap_unpack_libs.EVP_DigestUpdate)
#define EVP_DigestFinal_ex               (thinsnap_unpack_libs.EVP_DigestFinal_ex)
#endif
