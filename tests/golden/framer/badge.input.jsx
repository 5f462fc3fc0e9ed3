export default function ({ text = "New", tone = "#16a34a", pill = true }) {
  return (
    <>
      <span style={{ background: tone, borderRadius: pill ? 999 : 4 }}>{text}</span>
      <small>It's fresh</small>
    </>
  )
}
