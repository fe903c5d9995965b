# Writes the package's sample /etc/edocgw/gateway.xml by running the built
# binary's `config init`, so the sample is whatever the binary itself
# considers a valid start.
#   cmake -DEDOCGW=path/to/edocgw -DOUT=path/to/gateway.xml -P sample_config.cmake
execute_process(
  COMMAND "${EDOCGW}" config init
          --organ-id 000.00.00.H00
          --name "Tên cơ quan (thay bằng tên thật)"
          --data-dir /var/lib/edocgw
          --out "${OUT}.tmp" --force
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "edocgw config init failed (${rc}): ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
