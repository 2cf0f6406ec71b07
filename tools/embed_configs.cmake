# Writes OUT, a C file holding every model config JSON in DIR as a NUL-terminated string, with
# parallel name and text tables for bcos_clip_config_builtin(). Run by the build, never by hand.
file(GLOB FILES ${DIR}/*.json)
list(SORT FILES)
set(names "const char *const bcos_embedded_config_names[] = {")
set(texts "const char *const bcos_embedded_config_texts[] = {")
set(bodies "")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME_WE)
  string(MAKE_C_IDENTIFIER "cfg_${name}" ident)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND bodies "static const char ${ident}[] = {${hex} 0};\n")
  string(APPEND names "\"${name}\", ")
  string(APPEND texts "${ident}, ")
endforeach()
file(WRITE ${OUT} "/* Generated from the JSON files in src/model/configs by tools/embed_configs.cmake. */\n"
  "#include <stddef.h>\n${bodies}${names}NULL};\n${texts}NULL};\n")
