# Writes OUT, a C file holding every file of DIR that matches GLOB (sorted by name) as a
# NUL-terminated string, with parallel NULL-terminated tables ${PREFIX}_names (file names without
# extension) and ${PREFIX}_texts. Used for the model configs and the store's migrations. Run by
# the build, never by hand.
file(GLOB FILES ${DIR}/${GLOB})
list(SORT FILES)
set(names "const char *const ${PREFIX}_names[] = {")
set(texts "const char *const ${PREFIX}_texts[] = {")
set(bodies "")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME_WE)
  string(MAKE_C_IDENTIFIER "file_${name}" ident)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND bodies "static const char ${ident}[] = {${hex} 0};\n")
  string(APPEND names "\"${name}\", ")
  string(APPEND texts "${ident}, ")
endforeach()
file(WRITE ${OUT} "/* Generated from the ${GLOB} files of ${DIR} by tools/embed_files.cmake. */\n"
  "#include <stddef.h>\n${bodies}${names}NULL};\n${texts}NULL};\n")
