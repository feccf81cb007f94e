# The largest modules are compiled first, while the ESP8266's heap is still in one piece:
# compiling them after the Wi-Fi wait fails on fragmentation with 20 KB nominally free.
import gc
import mqttlink  # noqa: F401  (compiles umqtt.simple2 too; used by app)
gc.collect()
import service  # noqa: F401
gc.collect()
import app
gc.collect()
app.main()
